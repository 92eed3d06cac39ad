"""Message filters: the chain every posted and read message passes through, and the built-in
filters (checksum, json_schema, max_body_depth, max_body_size).

A filter is an :class:`~zaqar_tw.interfaces.IMessageFilter` provider registered in the
``zaqar_tw.filters`` entry-point group and named in ``[filters] chain``; see
``docs/plugins.md``.  :class:`MessageFilter` gives every hook a do-nothing default.
"""

from zaqar_tw.filters.base import MessageFilter, rejected
from zaqar_tw.filters.chain import FilterChain

__all__ = ["FilterChain", "MessageFilter", "rejected"]

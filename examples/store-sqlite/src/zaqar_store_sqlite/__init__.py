"""An SQLite store for zaqar-tw: a worked example of a third-party storage plugin.

Installed, it registers :class:`~zaqar_store_sqlite.store.SQLiteStorage` as ``sqlite`` in the
``zaqar_tw.storage`` entry-point group, and a test factory under the same name in
``zaqar_tw.storage_tests`` so zaqar-tw's storage contract suite runs against it.
"""

from zaqar_store_sqlite.store import SQLiteStorage

__all__ = ["SQLiteStorage"]

"""Query strings as the REST API reads them: raw strings for the core, and the
arguments of pagination links.

A blank value (``?x=``) counts as absent; a parameter given several times
(``?ids=a&ids=b``, as python-zaqarclient sends lists) reads as its values joined by commas,
the same as ``?ids=a,b``.  Typing and validation are the core's job.
"""

from urllib.parse import parse_qsl, urlencode

# Parameters that are booleans: pagination links write them as true/false.
BOOLEANS = frozenset({"detailed", "with_count", "echo", "include_claimed", "include_delayed"})
_TRUE = frozenset({"true", "True", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "False", "f", "no", "n", "0", "off"})


class Query:
    """The parameters of one request's query string, in the order sent."""

    def __init__(self, pairs):
        """:param pairs: ``(name, value)`` text pairs with non-blank values."""
        self.pairs = list(pairs)

    @classmethod
    def from_request(cls, request):
        """Read the query string of a :class:`twisted.web.server.Request`."""
        raw = request.uri.partition(b"?")[2].decode("latin-1")
        return cls(parse_qsl(raw, keep_blank_values=False, encoding="utf-8", errors="replace"))

    def get(self, name):
        """The raw text of a parameter, or ``None`` when absent."""
        values = [value for key, value in self.pairs if key == name]
        return ",".join(values) if values else None

    def next_href(self, path, marker):
        """The href of the next page: every argument as sent, booleans written as
        ``true``/``false``, and ``marker`` replaced in place (or added last).

        :param path: the collection path, e.g. ``/v2/queues``.
        :param marker: the last name or id of the page just returned.
        """
        pairs, placed = [], False
        for name, value in self.pairs:
            if name == "marker":
                if not placed:
                    pairs.append((name, marker))
                    placed = True
                continue
            if name in BOOLEANS:
                value = "true" if value in _TRUE else "false" if value in _FALSE else value
            pairs.append((name, value))
        if not placed:
            pairs.append(("marker", marker))
        return f"{path}?{urlencode(pairs)}"


def next_links(query, path, items, key, cursor=None):
    """The ``links`` of a page: one ``next`` link after the page's last item, or ``[]``
    when the page is empty.

    :param key: the item field the marker is read from (``name`` or ``id``).
    :param cursor: where the next page starts when the store ended this one early (then
        there is a next link even after an empty page).
    """
    if cursor is not None:
        return [{"rel": "next", "href": query.next_href(path, cursor)}]
    if not items:
        return []
    return [{"rel": "next", "href": query.next_href(path, items[-1][key])}]

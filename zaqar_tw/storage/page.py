"""A page of a listing that a store may end early."""


class Page(list):
    """The items of a page, and where the next page starts when the store stopped looking
    before the page was full (so that one request costs a bounded amount, however much the
    filters pass over).

    :ivar cursor: the marker of the next page (the id of the last item looked at), or
        ``None`` when the page ends where the items do: the next page then starts after
        the last item, and an empty page is the end.
    """

    def __init__(self, items=(), cursor=None):
        super().__init__(items)
        self.cursor = cursor

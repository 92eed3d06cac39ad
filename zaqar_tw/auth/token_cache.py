"""What Keystone said of recent tokens, on the injected clock, so that a request bearing a
known token costs a dict lookup and a clock comparison.

* A valid token's identity is kept until its expiry or ``keep_for`` seconds after it was
  validated, whichever comes first.  A token past its own expiry is refused from then on
  without asking Keystone; one merely kept long enough is validated again, so a token
  revoked in Keystone is still accepted until its entry ends (keystonemiddleware behaves
  the same way).
* A refused token (invalid, expired, not scoped to a project) is remembered for
  ``min(keep_for, REFUSAL_TIME)`` seconds, so that a client repeating a bad token does not
  cost Keystone a call each time; tokens do not become valid later, and the bound keeps a
  mistaken refusal short.
* Each kind is bounded: past ``size`` valid tokens (or ``size // 10 + 1`` refused ones), the
  entry kept longest is dropped first.  Entries live ``keep_for`` seconds at most anyway,
  so the oldest is also the nearest to its end.
"""

from dataclasses import dataclass

REFUSAL_TIME = 60.0  # at most this many seconds a refused token is remembered


@dataclass(frozen=True)
class Identity:
    """Who a valid token identifies.

    :ivar project: the id of the project it is scoped to.
    :ivar user: the user's id.
    :ivar roles: the names of its roles in that project.
    :ivar expires: its expiry, in seconds of the service clock.
    """

    project: str
    user: str
    roles: tuple
    expires: float


class TokenCache:
    """Outcomes of token validations: :class:`Identity` for a valid token, the refusal's
    message (``str``) for a refused one.

    :param clock: the ``IReactorTime`` entries age on.
    :param keep_for: seconds an outcome is kept (``0``: nothing is kept).
    :param size: the most valid tokens kept.
    :param expired: the refusal message of a token found past its expiry.
    """

    def __init__(self, clock, keep_for, size, expired):
        self._clock = clock
        self._keep_for = keep_for
        self._refusal_time = min(keep_for, REFUSAL_TIME)
        self._size = size
        self._expired = expired
        self._valid = {}  # token -> (until, Identity), oldest first
        self._refused = {}  # token -> (until, message), oldest first

    def lookup(self, token):
        """What is known of ``token`` now.

        :returns: its :class:`Identity`, its refusal message, or ``None`` when it must be
            validated (unknown, or kept long enough).
        """
        entry = self._valid.get(token)
        if entry is None:
            entry = self._refused.get(token)
            if entry is None:
                return None
        now = self._clock.seconds()
        if now < entry[0]:
            return entry[1]
        return self._stale(token, now)

    def _stale(self, token, now):
        entry = self._valid.pop(token, None)
        if entry is not None and now >= entry[1].expires:
            self.refuse(token, self._expired)
            return self._expired
        self._refused.pop(token, None)
        return None

    def keep(self, token, identity):
        """Remember a valid token until its expiry, ``keep_for`` seconds at most."""
        if self._keep_for <= 0:
            return
        until = min(identity.expires, self._clock.seconds() + self._keep_for)
        _put(self._valid, token, (until, identity), self._size)
        self._refused.pop(token, None)

    def refuse(self, token, message):
        """Remember a refused token and its refusal's message for a short while."""
        if self._refusal_time <= 0:
            return
        until = self._clock.seconds() + self._refusal_time
        _put(self._refused, token, (until, message), self._size // 10 + 1)
        self._valid.pop(token, None)


def _put(entries, token, entry, size):
    """Add an entry last, dropping the first ones past ``size``."""
    entries.pop(token, None)
    while len(entries) >= size:
        del entries[next(iter(entries))]
    entries[token] = entry

"""The token cache on an injected clock, and one call per key at a time."""

import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from zaqar_tw.auth.single_flight import SingleFlight
from zaqar_tw.auth.token_cache import REFUSAL_TIME, Identity, TokenCache

EXPIRED = "expired"


def cache(keep_for=300, size=100, now=1000):
    clock = Clock()
    clock.advance(now)
    return clock, TokenCache(clock, keep_for, size, EXPIRED)


def identity(expires):
    return Identity(project="p", user="u", roles=("member",), expires=expires)


def test_valid_token_kept_until_keep_for_then_validated_again():
    """A valid token is known for keep_for seconds, then must be validated again."""
    clock, tokens = cache()
    who = identity(expires=5000)
    assert tokens.lookup("t") is None
    tokens.keep("t", who)
    clock.advance(299)
    assert tokens.lookup("t") is who
    clock.advance(1)
    assert tokens.lookup("t") is None


def test_token_past_its_expiry_is_refused():
    """A token kept until its own expiry is refused from then on, without validation."""
    clock, tokens = cache()
    tokens.keep("t", identity(expires=1100))
    clock.advance(99)
    assert tokens.lookup("t").project == "p"
    clock.advance(1)
    assert tokens.lookup("t") == EXPIRED
    assert tokens.lookup("t") == EXPIRED
    clock.advance(REFUSAL_TIME)
    assert tokens.lookup("t") is None


def test_refusals_are_remembered_briefly():
    """A refused token is remembered for min(keep_for, REFUSAL_TIME) seconds."""
    clock, tokens = cache()
    tokens.refuse("bad", "no such token")
    clock.advance(REFUSAL_TIME - 1)
    assert tokens.lookup("bad") == "no such token"
    clock.advance(1)
    assert tokens.lookup("bad") is None
    clock, short = cache(keep_for=10)
    short.refuse("bad", "no")
    clock.advance(10)
    assert short.lookup("bad") is None


def test_nothing_kept_when_off():
    """keep_for 0: neither valid nor refused tokens are kept."""
    _, tokens = cache(keep_for=0)
    tokens.keep("t", identity(expires=5000))
    tokens.refuse("bad", "no")
    assert tokens.lookup("t") is None
    assert tokens.lookup("bad") is None


def test_bounded_oldest_dropped_first():
    """Past ``size`` valid tokens the one kept longest goes; refused tokens have a tenth
    of the room and do not push valid ones out."""
    _, tokens = cache(size=3)
    for name in "abc":
        tokens.keep(name, identity(expires=5000))
    tokens.keep("a", identity(expires=5000))  # kept again: now the newest
    tokens.keep("d", identity(expires=5000))
    assert [tokens.lookup(name) is not None for name in "abcd"] == [True, False, True, True]
    for number in range(10):
        tokens.refuse(f"bad{number}", "no")
    assert [tokens.lookup(f"bad{number}") for number in range(10)] == [None] * 9 + ["no"]
    assert all(tokens.lookup(name) is not None for name in "acd")


def test_a_refusal_replaces_a_valid_entry_and_back():
    """The last outcome of a token is the one kept."""
    _, tokens = cache()
    tokens.keep("t", identity(expires=5000))
    tokens.refuse("t", "revoked")
    assert tokens.lookup("t") == "revoked"
    tokens.keep("t", identity(expires=5000))
    assert tokens.lookup("t").user == "u"


@pytest_twisted.ensureDeferred
async def test_single_flight_shares_one_call():
    """Callers of one key while its call runs share its outcome; a later caller starts a
    new call; a cancelled caller leaves the others waiting."""
    flights = SingleFlight()
    calls = []

    def call(key):
        calls.append(key)
        pending = defer.Deferred()
        calls.append(pending)
        return pending

    first = flights.run("k", lambda: call("k"))
    second = flights.run("k", lambda: call("k"))
    third = flights.run("k", lambda: call("k"))
    other = flights.run("j", lambda: call("j"))
    assert calls[0::2] == ["k", "j"]
    third.cancel()
    calls[1].callback("result")
    assert await first == "result"
    assert await second == "result"
    assert third.called and isinstance(third.result.value, defer.CancelledError)
    third.addErrback(lambda _: None)
    calls[3].errback(ValueError("failed"))
    try:
        await other
    except ValueError as exc:
        assert str(exc) == "failed"
    else:
        raise AssertionError("the failure was not shared")
    assert await flights.run("k", lambda: "again") == "again"

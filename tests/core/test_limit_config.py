"""The rate classes of the operations, and what the [limits] options resolve to."""

import json
import os

import pytest

from zaqar_tw.auth.policy import OsloPolicy
from zaqar_tw.config import Config, ConfigError
from zaqar_tw.core.limits import Bucket, Limits, operation_class

POLICY_SAMPLE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "etc", "policy.json"
)


def test_every_rule_has_its_documented_class():
    """Reads, writes, claims and admin operations fall in the classes the docs name; pings
    in none."""
    with open(POLICY_SAMPLE, encoding="utf-8") as handle:
        rules = [name for name in json.load(handle) if ":" in name and name != "limits:exempt"]
    classes = {rule: operation_class(rule) for rule in rules}
    assert {rule for rule, found in classes.items() if found == "claim"} == {
        "claims:create", "claims:update", "claims:delete",
    }
    assert {rule for rule, found in classes.items() if found == "admin"} == {
        rule for rule in rules if rule.split(":")[0] in ("health", "pools", "flavors")
    }
    assert {rule for rule, found in classes.items() if found is None} == {"ping:get"}
    reads = {rule for rule, found in classes.items() if found == "read"}
    assert reads == {
        "queues:get_all", "queues:get", "queues:stats", "messages:get_all", "messages:get",
        "claims:get", "subscription:get_all", "subscription:get", "topics:get_all",
        "topics:get", "topics:stats",
    }
    writes = {rule for rule, found in classes.items() if found == "write"}
    assert {"messages:create", "messages:delete_all", "queues:purge",
            "subscription:confirm"} <= writes
    assert set(classes) == reads | writes | {
        rule for rule, found in classes.items() if found in ("claim", "admin", None)
    }


def _redis_store():
    """A Redis store on a memory reactor (never connected)."""
    from twisted.internet.testing import MemoryReactorClock

    from zaqar_tw.storage.redis.store import RedisStorage

    return RedisStorage(MemoryReactorClock(), "redis://127.0.0.1:6379")


class _StoreWithoutBuckets:
    """A store written before IStorage.rates existed."""

    queues = messages = claims = subscriptions = None


def test_burst_defaults_to_a_second_of_the_rate():
    """An unset burst is the rate rounded up, at least 1; a set one is kept, for the
    project its section names."""
    config = Config()
    config.set("limits", "read_rate", "2.5")
    config.set("limits", "claim_rate", "0.2")
    config.set("limits", "write_rate", "3")
    config.set("limits", "write_burst", "40")
    config.set("limits:p1", "read_burst", "7")
    limits = Limits(config, _redis_store(), OsloPolicy(config))
    assert [limits.bucket("p0", name) for name in ("read", "write", "claim", "admin")] == [
        Bucket("read", 2.5, 3), Bucket("write", 3.0, 40), Bucket("claim", 0.2, 1), None,
    ]
    assert limits.bucket("p1", "read") == Bucket("read", 2.5, 7)


def test_rates_need_a_store_with_buckets():
    """A rate (in [limits] or a project's section) with a store that keeps no token buckets
    stops start-up; quotas alone do not need them."""
    config = Config()
    config.set("limits", "max_queues_per_project", "3")
    assert not Limits(config, _StoreWithoutBuckets(), OsloPolicy(config)).rated
    config.set("limits:p1", "admin_rate", "1")
    with pytest.raises(ConfigError, match=r"\[limits\]: the store _StoreWithoutBuckets keeps "
                                          r"no token buckets"):
        Limits(config, _StoreWithoutBuckets(), OsloPolicy(config))

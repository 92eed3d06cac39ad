"""The checksum filter (spec 3.11), chosen by [filters] chain or by [DEFAULT]
enable_checksum."""

import pytest
import pytest_twisted

from zaqar_tw.config import Config
from zaqar_tw.filters.checksum import checksum
from zaqar_tw.plugins import filter_chain, filter_names

EVENT_SUM = "MD5:e4db62ac1fe774afdcf38f2ef1a78efd"


def test_reference_value():
    """The body {"event": "a"} gives the checksum the reference server gives."""
    assert checksum({"event": "a"}) == EVENT_SUM


@pytest.mark.parametrize(
    "chain, enabled, names",
    [
        ("", "false", []),
        ("", "true", ["checksum"]),
        ("max_body_size", "true", ["max_body_size", "checksum"]),
        ("checksum, max_body_size", "true", ["checksum", "max_body_size"]),
        ("checksum", "false", ["checksum"]),
    ],
)
def test_enable_checksum_runs_the_filter_once(chain, enabled, names):
    """enable_checksum appends checksum to the chain unless the chain names it already."""
    config = Config()
    config.set("filters", "chain", chain)
    config.set("DEFAULT", "enable_checksum", enabled)
    assert filter_names(config) == names
    assert filter_chain(config).names == tuple(names)


@pytest.mark.zaqar_config(("filters", "chain", "checksum"))
@pytest_twisted.ensureDeferred
async def test_chain_alone_turns_checksums_on(api):
    """Naming checksum in the chain stores and shows checksums without enable_checksum."""
    (message_id,) = await api.post_messages("q", {"body": {"event": "a"}})
    got = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert got.json["checksum"] == EVENT_SUM


@pytest.mark.zaqar_config(("DEFAULT", "enable_checksum", "true"), ("filters", "chain", "tag_a"),
                          ("filter:tag_a", "tag", "a"))
@pytest_twisted.ensureDeferred
async def test_checksum_covers_what_earlier_filters_made(api):
    """enable_checksum puts checksum last, so it covers the body as stored."""
    (message_id,) = await api.post_messages("q", {"body": {}})
    got = await api.get(f"/v2/queues/q/messages/{message_id}")
    assert got.json["checksum"] == checksum({"trail": ["a"]})

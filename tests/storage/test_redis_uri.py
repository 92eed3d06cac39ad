"""Parsing of Redis store URIs (zaqar_tw.storage.redis.uri)."""

import pytest

from zaqar_tw.storage.redis.uri import (
    ClusterAddress,
    RedisAddress,
    SentinelAddress,
    parse_uri,
    redact,
)


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("redis://", RedisAddress()),
        ("redis://127.0.0.1:6379", RedisAddress("127.0.0.1", 6379)),
        ("redis://localhost", RedisAddress("localhost", 6379)),
        ("redis://redis.example.com:7000/3", RedisAddress("redis.example.com", 7000, db=3)),
        ("redis://h:1/", RedisAddress("h", 1)),
        ("redis://h?dbid=5", RedisAddress("h", 6379, db=5)),
        ("redis://h:6380?dbid=5", RedisAddress("h", 6380, db=5)),
        ("redis://h/5?dbid=5", RedisAddress("h", 6379, db=5)),
        ("redis://h?db=2", RedisAddress("h", 6379, db=2)),
        ("redis://:s3cr%40t@h:6379/1", RedisAddress("h", 6379, db=1, password="s3cr@t")),
        ("redis://user:pw@h", RedisAddress("h", 6379, username="user", password="pw")),
        ("redis://:@h", RedisAddress("h", 6379, password="")),
        ("redis://[::1]:6390", RedisAddress("::1", 6390)),
        ("REDIS://H:1", RedisAddress("h", 1)),
        ("redis://h?socket_timeout=0.5", RedisAddress("h", 6379, connect_timeout=0.5)),
        ("redis+unix:///run/redis.sock",
         RedisAddress(None, None, path="/run/redis.sock")),
        ("redis+unix:///tmp/r.sock?db=4",
         RedisAddress(None, None, path="/tmp/r.sock", db=4)),
        ("redis+unix:///tmp/r.sock?dbid=4&password=p%26w",
         RedisAddress(None, None, path="/tmp/r.sock", db=4, password="p&w")),
        ("redis+unix://:pw@/tmp/r.sock",
         RedisAddress(None, None, path="/tmp/r.sock", password="pw")),
        ("redis+unix:///a%20dir/r.sock", RedisAddress(None, None, path="/a dir/r.sock")),
    ],
)
def test_accepted(uri, expected):
    """Each accepted form parses to the expected address."""
    assert parse_uri(uri) == expected


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("redis+sentinel://h1:26380,h2/mymaster",
         SentinelAddress((("h1", 26380), ("h2", 26379)), "mymaster")),
        ("redis+sentinel://:pw@[::1]:5,h:6/m/3?sentinel_password=s&socket_timeout=2",
         SentinelAddress((("::1", 5), ("h", 6)), "m", db=3, password="pw",
                         sentinel_password="s", connect_timeout=2.0)),
        ("redis+sentinel://u:pw@h/m?dbid=4",
         SentinelAddress((("h", 26379),), "m", db=4, username="u", password="pw")),
    ],
)
def test_sentinel_accepted(uri, expected):
    """The Sentinel form names the sentinels (26379 by default), the master and the
    database; a connection to it follows the master."""
    address = parse_uri(uri)
    assert address == expected
    assert address.follows_master and not parse_uri("redis://h").follows_master


def test_cluster_accepted():
    """The Cluster form names nodes to learn the map from (6379 by default)."""
    address = parse_uri("redis+cluster://:pw@h1:7000,h2?socket_timeout=3")
    assert address == ClusterAddress((("h1", 7000), ("h2", 6379)), password="pw",
                                     connect_timeout=3.0)
    assert address.node("h3", 7001) == RedisAddress("h3", 7001, password="pw",
                                                    connect_timeout=3.0)
    assert str(address) == "cluster of h1:7000,h2:6379"


def test_sentinel_texts_hide_passwords():
    """Neither the master's nor the sentinels' password shows in texts."""
    uri = "redis+sentinel://:pw@h:1/m?sentinel_password=spw"
    assert redact(uri) == "redis+sentinel://:***@h:1/m?sentinel_password=***"
    assert str(parse_uri(uri)) == "master 'm' of sentinels h:1 db 0"
    assert "pw" not in repr(parse_uri(uri))


@pytest.mark.parametrize(
    "uri, problem",
    [
        ("redis+sentinel://h:26379", "master name is missing"),
        ("redis+sentinel:///m", "at least one host"),
        ("redis+sentinel://h:x/m", "port must be a number"),
        ("redis+sentinel://h:1,,h:2/m", "cannot read host address ''"),
        ("redis+cluster://h:1/2", "only database 0"),
        ("redis+cluster://h:1?db=1", "only database 0"),
        ("redis+cluster://", "at least one host"),
        ("redis+cluster://h:0", "port must be"),
        ("redis+sentinel://h/m/x", "database"),
        ("redis+sentinel://h/m/1?db=2", "conflicting"),
        ("redis+sentinel://h/m?dbid=1&sentinel_password=a&x=1", "unknown parameter 'x'"),
        ("embedded", "Unsupported Redis store URI"),
        ("mongodb://h:27017", "Unsupported Redis store URI"),
        ("rediss://h", "Unsupported Redis store URI"),
        ("", "Unsupported Redis store URI"),
        ("redis://h:notaport", "port"),
        ("redis://h:70000", "port"),
        ("redis://h/x", "database"),
        ("redis://h/-1", "database"),
        ("redis://h/1?dbid=2", "conflicting"),
        ("redis://h?dbid=", "database"),
        ("redis://h?timeout=3", "unknown parameter 'timeout'"),
        ("redis://h?db=1&db=1", "twice"),
        ("redis://h#frag", "fragment"),
        ("redis://secret@h", "colon"),
        ("redis://:a@h?password=b", "password given both"),
        ("redis://h?socket_timeout=x", "socket_timeout"),
        ("redis://h?socket_timeout=0", "socket_timeout"),
        ("redis+unix://localhost/tmp/r.sock", "takes no host"),
        ("redis+unix://", "socket path is missing"),
        ("redis+unix:///tmp/r.sock?db=x", "database"),
    ],
)
def test_rejected(uri, problem):
    """Anything else raises ValueError naming the URI and the problem."""
    with pytest.raises(ValueError) as caught:
        parse_uri(uri)
    message = str(caught.value)
    assert problem in message
    assert repr(redact(uri)) in message


def test_not_a_string():
    """A non-string URI is a ValueError too."""
    with pytest.raises(ValueError, match="must be a string"):
        parse_uri(None)


def test_errors_hide_passwords():
    """Error texts never carry the password, in the userinfo or the query."""
    for uri in ("redis://:hunter2@h:bad", "redis+unix:///s?password=hunter2&db=x",
                "redis://user:hunter2@h/x"):
        with pytest.raises(ValueError) as caught:
            parse_uri(uri)
        assert "hunter2" not in str(caught.value)
        assert "***" in str(caught.value)


def test_redact():
    """redact masks passwords and leaves the rest as written."""
    assert redact("redis://:pw@h:1/2") == "redis://:***@h:1/2"
    assert redact("redis://u:pw@h") == "redis://u:***@h"
    assert redact("redis+unix:///s?password=pw&db=1") == "redis+unix:///s?password=***&db=1"
    assert redact("redis://h:1/2?dbid=2") == "redis://h:1/2?dbid=2"
    assert redact("redis://secret@h") == "redis://***@h"
    assert redact("redis+unix://:pw@/s") == "redis+unix://:***@/s"


def test_str_has_no_password():
    """An address prints where it points, never its password."""
    assert str(parse_uri("redis://:pw@h:1/2")) == "h:1 db 2"
    assert str(parse_uri("redis+unix:///s.sock?password=pw")) == "unix:/s.sock db 0"
    assert str(parse_uri("redis://[::1]:7")) == "[::1]:7 db 0"
    assert "pw" not in repr(parse_uri("redis://:pw@h"))

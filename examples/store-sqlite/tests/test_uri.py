"""SQLite store URIs: the accepted forms, their options, and clear refusals."""

import os

import pytest

from zaqar_store_sqlite.uri import SQLiteAddress, parse_uri


@pytest.mark.parametrize(
    "uri, path",
    [
        ("sqlite:///var/lib/zaqar/zaqar.db", "/var/lib/zaqar/zaqar.db"),
        ("SQLITE:///var/lib/zaqar/zaqar.db", "/var/lib/zaqar/zaqar.db"),
        ("sqlite:///tmp/with%20space%3F.db", "/tmp/with space?.db"),
        ("sqlite:data/zaqar.db", os.path.abspath("data/zaqar.db")),
        ("sqlite:~/zaqar.db", os.path.expanduser("~/zaqar.db")),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_paths(uri, path):
    """Absolute, relative, home-relative and in-memory databases."""
    assert parse_uri(uri).path == path


def test_defaults():
    """Without options: 5 s lock timeout, synchronous FULL, two reader threads."""
    assert parse_uri("sqlite:///z.db") == SQLiteAddress("/z.db", 5.0, "full", 2)


def test_options():
    """timeout, synchronous and readers are read from the query."""
    address = parse_uri("sqlite:///z.db?timeout=0.5&synchronous=NORMAL&readers=0")
    assert address == SQLiteAddress("/z.db", 0.5, "normal", 0)


def test_memory_has_no_readers():
    """Another connection to :memory: would see another database, so reads stay on the
    writer."""
    address = parse_uri("sqlite://:memory:?readers=4")
    assert address.memory and address.readers == 0


@pytest.mark.parametrize(
    "uri, problem",
    [
        ("redis://127.0.0.1:6379", "Unsupported SQLite store URI"),
        ("sqlite://host/zaqar.db", "looks like a host"),
        ("sqlite://", "file name is missing"),
        ("sqlite:///var/lib/", "file name is missing"),
        ("sqlite:///z.db#x", "fragment"),
        ("sqlite:///z.db?bogus=1", "unknown option 'bogus'"),
        ("sqlite:///z.db?timeout=1&timeout=2", "given twice"),
        ("sqlite:///z.db?timeout=soon", "timeout must be a number"),
        ("sqlite:///z.db?timeout=-1", "timeout must be from 0"),
        ("sqlite:///z.db?synchronous=off", "synchronous must be one of full, normal"),
        ("sqlite:///z.db?readers=-1", "readers must be a whole number"),
        ("sqlite:///z.db?readers=65", "readers must be a whole number"),
        ("sqlite://:memory:/x", "sqlite://:memory:"),
        (None, "must be a string"),
    ],
)
def test_refusals(uri, problem):
    """A URI this store cannot use raises ValueError naming the problem."""
    with pytest.raises(ValueError, match=problem):
        parse_uri(uri)

"""Runs the real zaqar-tw in-process, configured by a zaqar.conf that names the filter as an
operator would (see tests/configured.py of zaqar-tw), on the Redis at 127.0.0.1:6379."""

import pytest_twisted

from tests.configured import configured_service

SECTIONS = """
[filters]
chain = stamp

[filter:stamp]
received_by = node-7
redact = card, pin
reveal_to = auditor
"""


@pytest_twisted.async_yield_fixture
async def api(tmp_path):
    """zaqar-tw with ``[filters] chain = stamp``, started from a config file; a client."""
    async with configured_service(tmp_path, SECTIONS) as client:
        yield client

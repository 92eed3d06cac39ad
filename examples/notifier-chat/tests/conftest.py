"""Runs the real zaqar-tw in-process, configured by a zaqar.conf that enables the notifier as
an operator would (see tests/configured.py of zaqar-tw), on the Redis at 127.0.0.1:6379; and
a real chat server stand-in: an HTTP receiver on 127.0.0.1 that records what it is sent."""

import pytest_twisted

from tests.configured import configured_service
from tests.notify.receiver import Receiver

SECTIONS = """
[notification]
notifiers = webhook, chat

[notifier:chat]
max_length = 40
"""


@pytest_twisted.async_yield_fixture
async def api(tmp_path):
    """zaqar-tw with ``[notification] notifiers = webhook, chat``, started from a config
    file; a client."""
    async with configured_service(tmp_path, SECTIONS) as client:
        yield client


@pytest_twisted.async_yield_fixture
async def chat_server():
    """An HTTP receiver on 127.0.0.1 standing in for the chat server."""
    from twisted.internet import reactor

    receiver = await Receiver(reactor).start()
    yield receiver
    await receiver.stop()

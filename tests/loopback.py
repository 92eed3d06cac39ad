"""Test receivers listen on 127.0.0.1, an address the webhook guard refuses unless
``[notification] allow_private_subscribers`` names it: every service the tests build allows
127.0.0.0/8 by default, through these helpers.  Tests of the guard itself build their config
without them."""

import re

SECTION = "notification"
OPTION = "allow_private_subscribers"
LOOPBACK = "127.0.0.0/8"


def allow_loopback(config):
    """Allow :data:`LOOPBACK` in a :class:`~zaqar_tw.config.Config`; :returns: it."""
    config.set(SECTION, OPTION, LOOPBACK)
    return config


def loopback_config():
    """A default :class:`~zaqar_tw.config.Config` that allows :data:`LOOPBACK`."""
    from zaqar_tw.config import Config

    return allow_loopback(Config())


def allowing_loopback(text):
    """A zaqar.conf text (``None``: none) with :data:`LOOPBACK` allowed: the option is
    added to its ``[notification]`` section, or in a new one, unless it is set already."""
    text = text or ""
    if re.search(rf"(?m)^\s*{OPTION}\s*[=:]", text):
        return text
    line = f"{OPTION} = {LOOPBACK}\n"
    header = re.search(rf"(?m)^\[{SECTION}\][ \t]*\n", text)
    if header:
        return text[:header.end()] + line + text[header.end():]
    return text + ("" if not text or text.endswith("\n") else "\n") + f"\n[{SECTION}]\n" + line

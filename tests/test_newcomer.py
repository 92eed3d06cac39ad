"""A newcomer's first hour, as README.md tells it: a fresh clone, README's first command, the
README's curl examples with the answers their comments promise, then a stop and a restart
that keeps the data.

The README is the one source of truth: the commands and the answers checked are parsed from
its code blocks, so README and test cannot drift apart.  Two things differ from a newcomer's
machine, both through files a newcomer could write too: the machine is shared, so
``~/.zaqar/zaqar.conf`` (in a temporary HOME) moves the listeners to free ports, and it sets
``[signed_url] secret_key`` for the pre-signed URL example.

Cost: the first start creates a virtualenv and installs zaqar-tw into it (about 30 s on an
idle machine; the restart reinstalls, about 10 s more).  Marked ``slow``: ``pytest -m "not
slow"`` leaves it out of a quick local run; CI runs it.
"""

import json
import os
import re
import shutil
import signal
import sys
import uuid

import pytest
import pytest_twisted

from tests.processes import ROOT, Http, Process, free_port
from tests.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (shutil.which("curl") and shutil.which("git")),
        reason="runs the README's curl examples on a git clone: needs curl and git "
        "(.ci/run installs curl)",
    ),
]

README = os.path.join(ROOT, "README.md")
#: How long the first start (virtualenv, install, start) may take on a loaded machine.
INSTALL_TIMEOUT = 600


def _reactor():
    from twisted.internet import reactor

    return reactor


def section(text, heading):
    """The text of the README section whose heading starts with ``heading``, up to the next
    heading of its level."""
    level = heading.split(" ", 1)[0]
    start = re.search(rf"^{re.escape(heading)}\b.*$", text, re.M).end()
    following = re.search(rf"^{level} ", text[start:], re.M)
    return text[start:start + following.start()] if following else text[start:]


def code_blocks(text, language):
    """The fenced ``language`` blocks of ``text``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.M | re.S)


def quick_start_command(text):
    """README's first command: the first ``sh`` block of its Quick start."""
    (command,) = code_blocks(section(text, "## Quick start"), "sh")[0].strip().splitlines()
    return command


def examples(text):
    """The curl examples of the README: ``(setup lines, [(comment, command), ...])``.

    Assignments (``Z=...``, ``H=(...)``) are setup; each command is the lines from a
    ``curl`` to the end of its ``\\`` continuations, with the comment lines before it.
    """
    blocks = code_blocks(section(text, "## The API in brief"), "bash")
    blocks += code_blocks(section(text, "### Pre-signed URLs"), "bash")
    setup, steps, comment, command = [], [], [], []
    for line in "\n".join(blocks).splitlines():
        if command:
            command.append(line)
        elif line.startswith("#"):
            comment.append(line.lstrip("# "))
        elif line.startswith("curl "):
            command = [line]
        elif re.match(r"^[A-Z]+=", line):
            setup.append(line)
        if command and not line.endswith("\\"):
            steps.append((" ".join(comment), "\n".join(command)))
            comment, command = [], []
    return setup, steps


def promised(comment):
    """What a comment promises: ``(statuses, top-level JSON key or None)``."""
    statuses = {int(code) for code in re.findall(r"\b([24]\d\d)\b(?! s)", comment)}
    key = re.search(r'\b[24]\d\d \{"(\w+)"', comment)
    return statuses, key.group(1) if key else None


async def run(argv, cwd, env):
    """Run ``argv`` to its end. :returns: ``(exit status, standard output, standard
    error)``, decoded."""
    from twisted.internet.utils import getProcessOutputAndValue

    out, err, status = await getProcessOutputAndValue(argv[0], argv[1:], env=env, path=cwd,
                                                      reactor=_reactor())
    return status, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def curl_answer(output):
    """``(status, decoded JSON body or None)`` of the output of ``curl -i``."""
    head, _, body = output.replace("\r\n", "\n").partition("\n\n")
    status = int(head.split("\n", 1)[0].split()[1])
    return status, json.loads(body) if body.strip() else None


def learn(found, body):
    """Pick from an answer what later examples write as ``<placeholders>``."""
    if not isinstance(body, dict):
        return
    if "signature" in body:
        found["<signature>"] = body["signature"]
    for message in body.get("messages") or []:
        if isinstance(message, dict) and "claim_id=" in message.get("href", ""):
            path, _, claim = message["href"].partition("?claim_id=")
            found.setdefault("<id>", path.rsplit("/", 1)[1])
            found.setdefault("<cid>", claim)


def newcomer_env(home):
    """The environment of a newcomer: this one, less the test's virtualenv, with ``home``."""
    venv_bin = os.path.dirname(sys.executable)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return dict(env, HOME=home, PATH=path)


async def start(command, clone, env, log, url):
    """Start README's first command in the background and wait until the store answers."""
    process = Process(["bash", "-c", command], log, env=env, cwd=clone)
    process.spawn()
    http = Http("newcomer", str(uuid.uuid4()))

    async def ready():
        if process.exited():
            raise AssertionError(f"{command!r} exited:\n{process.log_tail()}")
        try:
            return (await http.call("GET", url + "/v2/ping"))[0] == 204
        except Exception:
            return False

    try:
        await wait_until(ready, INSTALL_TIMEOUT, "README's first command to serve", step=0.5)
    except AssertionError:
        await process.kill()
        raise
    finally:
        await http.close()
    return process


@pytest_twisted.ensureDeferred
async def test_a_newcomer_follows_the_readme(tmp_path):
    """Clone, run README's first command with a fresh HOME, run every curl example of the
    README and get the answers its comments promise; stop it as a terminal does (Ctrl-C),
    start it again, and find the data there."""
    with open(README, encoding="utf-8") as handle:
        readme = handle.read()
    command = quick_start_command(readme)
    setup, steps = examples(readme)
    assert command.endswith("twistd -n zaqar") and len(steps) >= 8

    clone = str(tmp_path / "zaqar-tw")
    status, _, err = await run(["git", "clone", "-q", ROOT, clone], str(tmp_path), None)
    assert status == 0, err
    head = (await run(["git", "rev-parse", "HEAD"], ROOT, None))[1].strip()
    status, _, err = await run(["git", "checkout", "-q", head], clone, None)
    assert status == 0, err

    home = tmp_path / "home"
    (home / ".zaqar").mkdir(parents=True)
    port, ws_port = free_port(), free_port()
    (home / ".zaqar" / "zaqar.conf").write_text(
        f"[service]\nrest = tcp:{port}:interface=127.0.0.1\n"
        f"websocket = tcp:{ws_port}:interface=127.0.0.1\n\n"
        "[signed_url]\nsecret_key = a newcomer's secret\n"
    )
    env = newcomer_env(str(home))
    url = f"http://127.0.0.1:{port}"
    log = str(tmp_path / "zaqar.log")

    service = await start(command, clone, env, log, url)
    try:
        found = {}
        setup = [re.sub(r"^Z=.*", f"Z={url}", line) for line in setup]
        for comment, example in steps:
            for placeholder, value in found.items():
                example = example.replace(placeholder, value)
            assert not re.search(r"<\w+>", example), (example, found)
            status, out, err = await run(["bash", "-c", "\n".join(setup + [example])], clone,
                                         env)
            assert status == 0, err
            answer, body = curl_answer(out)
            statuses, key = promised(comment)
            assert answer in statuses, (comment, example, out)
            if key is not None:
                assert isinstance(body, dict) and key in body, (comment, out)
            learn(found, body)
        assert "<id>" in found and "<signature>" in found
        assert f"serving REST on {url}" in service.output()
        assert f"config: {home / '.zaqar' / 'zaqar.conf'}" in service.output()
    finally:
        await service.kill(signal.SIGINT, timeout=60)  # Ctrl-C reaches the whole group
    assert "Server Shut Down" in service.output(), service.log_tail()

    http = Http("demo", str(uuid.uuid4()))
    service = await start(command, clone, env, log, url)
    try:
        status, body = await http.call(
            "GET", url + "/v2/queues/jobs/messages?echo=true&include_claimed=true")
        assert status == 200, body
        assert len(body["messages"]) == 1  # two posted, one deleted
        assert found["<id>"] not in [m["id"] for m in body["messages"]]
        status, body = await http.call("GET", url + "/v2/queues/jobs/subscriptions")
        assert [s["subscriber"] for s in body["subscriptions"]] == [
            "https://hooks.example.com/jobs"]
    finally:
        await http.close()
        await service.kill(signal.SIGINT, timeout=60)

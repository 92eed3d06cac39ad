"""What users read works as written: the worked examples' READMEs install from the checkout
(the examples are not on PyPI) and their test commands collect their tests; and no document
a user has cites sections of the wire contract, which only zaqar-tw's developers have."""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DOCS = sorted(
    [os.path.join(ROOT, name) for name in ("README.md", "etc/zaqar.conf")]
    + glob.glob(os.path.join(ROOT, "docs", "*.md"))
    + glob.glob(os.path.join(ROOT, "*", "README.md"))
    + glob.glob(os.path.join(ROOT, "examples", "*", "README.md"))
)
EXAMPLE_READMES = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "README.md")))
SPEC_CITATION = re.compile(r"\bspec(?:ification)?\b[^.\n]{0,16}?\d+\.\d+|§\s*\d|\bsection \d+\.\d+")


def commands(readme):
    """The shell commands of a README: the lines of its ``sh`` blocks and its indented
    blocks that run something of the virtualenv (``.venv/bin/...``)."""
    with open(readme, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    found = []
    fence = None  # the language of the fenced block we are in, if any
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:] or "text"
        elif fence in ("sh", "bash") and stripped.startswith(".venv/bin/"):
            found.append(stripped)
        elif fence is None and line.startswith("    .venv/bin/"):
            found.append(stripped)
    return [shlex.split(line) for line in found]


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: os.path.relpath(p, ROOT))
def test_no_user_document_cites_the_wire_contract(path):
    """Users do not have the wire contract: a document never sends them to its sections."""
    with open(path, encoding="utf-8") as handle:
        assert SPEC_CITATION.findall(handle.read()) == []


@pytest.mark.parametrize("readme", EXAMPLE_READMES, ids=lambda p: p.split(os.sep)[-2])
def test_example_installs_from_the_checkout(readme):
    """Each example's README installs it (and anything else) from paths of the checkout,
    never by a name a package index would have to know."""
    installs = [argv for argv in commands(readme) if argv[:2] == [".venv/bin/pip", "install"]]
    example = os.path.relpath(os.path.dirname(readme), ROOT)
    assert installs, "the README says how to install the example"
    named = set()
    for argv in installs:
        args = iter(argv[2:])
        for arg in args:
            if arg == "--config-settings":
                next(args)
            if arg.startswith("-"):
                continue
            local = re.sub(r"\[.*\]$", "", arg)
            assert os.path.exists(os.path.join(ROOT, local)), f"{arg}: not a path of the checkout"
            named.add(os.path.normpath(local))
    assert example in named


@pytest.mark.parametrize("readme", EXAMPLE_READMES, ids=lambda p: p.split(os.sep)[-2])
def test_example_tests_run_as_written(readme):
    """Each example's test command, run from the checkout's top directory as its README
    says, finds the example's tests (and none of zaqar-tw's own)."""
    runs = [argv for argv in commands(readme) if argv[0] == ".venv/bin/pytest"]
    assert len(runs) == 1, runs
    example = os.path.relpath(os.path.dirname(readme), ROOT)
    args = runs[0][1:]
    assert args and all(arg.startswith(example) for arg in args), args
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    collected = [line.split("::")[0] for line in out.stdout.splitlines() if "::" in line]
    assert collected
    for path in collected:  # node ids are relative to the example (its own pytest config)
        assert os.path.exists(os.path.join(ROOT, example, path)), path

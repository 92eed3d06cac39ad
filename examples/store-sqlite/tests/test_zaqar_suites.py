"""zaqar-tw's own suites on this store: the storage contract suite and the REST API tests
(with python-zaqarclient's), run by pytest in a child process with ``ZAQAR_TEST_STORE=sqlite``
so that every ``storage`` and ``api`` fixture of zaqar-tw builds an SQLite store through this
package's ``zaqar_tw.storage_tests`` factory.

They need zaqar-tw's source tree (its tests are not installed): this example lives in it, at
``examples/store-sqlite``; set ``ZAQAR_TW_SOURCE`` to use another checkout.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = Path(os.environ.get("ZAQAR_TW_SOURCE") or Path(__file__).resolve().parents[3])
SUITES = {
    "storage contract": ["tests/storage"],
    "REST API": ["tests/rest", "tests/test_zaqarclient.py"],
}


@pytest.mark.skipif(
    not (SOURCE / "tests" / "storage" / "conftest.py").is_file(),
    reason=f"zaqar-tw's source tree (with its tests) is not at {SOURCE}; set ZAQAR_TW_SOURCE",
)
@pytest.mark.parametrize("suite", sorted(SUITES))
def test_zaqar_suite_passes_on_sqlite(suite, tmp_path):
    """The suite passes with every store fixture of zaqar-tw built on SQLite."""
    env = dict(os.environ, ZAQAR_TEST_STORE="sqlite")
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
        "--basetemp", str(tmp_path / "basetemp"), *SUITES[suite],
    ]
    done = subprocess.run(
        command, cwd=SOURCE, env=env, stdin=subprocess.DEVNULL, capture_output=True,
        text=True, timeout=600,
    )
    output = done.stdout + done.stderr
    tail = "\n".join(output.splitlines()[-40:])
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{tail}"
    assert "zaqar-tw test store: sqlite" in output, tail
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) > 0, tail

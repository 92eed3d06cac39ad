"""OpenStack Zaqar 23.0.1's own test suites against zaqar-tw: ``compat/zaqar-suites --help``.

Installs Zaqar into ``bench/.zaqar-venv`` the way ``bench/compare`` does (the same code),
adds the test packages its suites import, starts a private redis-server and one zaqar-tw per
server profile (:data:`expectations.PROFILE_CONFIG`), runs ``compat/upstream_run.py`` in
Zaqar's virtualenv and prints, per upstream suite, how many tests passed, failed, failed as
expected, were skipped or are not applicable.  Exits 1 if a test failed unexpectedly or an
expected failure passed.
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid

COMPAT = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(COMPAT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import compare  # noqa: E402  (bench/compare.py: installs and locates Zaqar's virtualenv)
import zaqar_bench as zb  # noqa: E402
from expectations import PROFILE_CONFIG, expected_failure, not_applicable, suite_of  # noqa: E402

ZAQAR_PYTHON = os.path.join(compare.ZAQAR_VENV, "bin", "python")
# What Zaqar's suites import beyond Zaqar itself (from its test requirements).
TEST_PACKAGES = ("testtools", "testscenarios", "ddt", "fixtures", "oslotest",
                 "websocket-client", "pymongo")
TEST_PACKAGES_MARK = os.path.join(compare.ZAQAR_VENV, ".installed-test-packages")

# The reference's own bootstrap, which upstream's test bases build in setUp, uses this
# database of the private redis-server; zaqar-tw uses database 0.
REFERENCE_DB = 1
REFERENCE_CONF = """\
# Written by compat/zaqar-suites: what upstream's test bases bootstrap in setUp.
[DEFAULT]
unreliable = true

[drivers]
transport = wsgi
message_store = redis
management_store = redis

[drivers:message_store:redis]
uri = {uri}

[drivers:management_store:redis]
uri = {uri}
"""
FUNCTIONAL_CONF = """\
# Written by compat/zaqar-suites for zaqar/tests/functional.
[zaqar]
url = {url}
config = {reference_conf}

[headers]
project_id = {project}
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Run OpenStack Zaqar's own test suites against zaqar-tw.")
    parser.add_argument("--only", action="append", default=[], metavar="GLOB",
                        help="run only the upstream test ids matching GLOB (repeatable), "
                             "e.g. '*test_messages*'")
    parser.add_argument("--verbose", action="store_true",
                        help="print the whole traceback of each failure")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (configs, server logs, results)")
    return parser.parse_args(argv)


def ensure_test_packages():
    """Install the packages Zaqar's suites need into its virtualenv (once)."""
    if os.path.exists(TEST_PACKAGES_MARK):
        return
    zb.say("installing Zaqar's test packages into its virtualenv (once)")
    subprocess.run([ZAQAR_PYTHON, "-m", "pip", "install", "-q", *TEST_PACKAGES], check=True)
    with open(TEST_PACKAGES_MARK, "w", encoding="ascii") as handle:
        handle.write(" ".join(TEST_PACKAGES) + "\n")


class Server(zb.ZaqarTw):
    """zaqar-tw in admin mode (upstream's in-process app is), with a profile's config file."""

    def __init__(self, redis, profile, workdir, websocket=False):
        cpus = ",".join(str(cpu) for cpu in zb.cpu_list())
        super().__init__(redis, 0, cpus, os.path.join(workdir, f"zaqar-tw-{profile}.log"),
                         websocket=websocket)
        os.rmdir(self._home)  # bench's fresh HOME: this run keeps its HOMEs in its work dir
        self._home = os.path.join(workdir, f"home-{profile}")
        os.makedirs(self._home)
        self.config = os.path.join(workdir, f"zaqar-{profile}.conf")
        with open(self.config, "w", encoding="utf-8") as handle:
            handle.write(PROFILE_CONFIG[profile])

    def argv(self):
        return super().argv() + ["--admin-mode", "--config", self.config]


def run_upstream(args, servers, workdir):
    """Run the upstream suites in Zaqar's virtualenv; :returns: ``{test id: outcome}``."""
    results = os.path.join(workdir, "results.json")
    argv = [
        ZAQAR_PYTHON, os.path.join(COMPAT, "upstream_run.py"),
        "--servers", json.dumps({name: server.url for name, server in servers.items()}),
        "--websocket", servers["default"].ws_url,
        "--configs", workdir,
        "--results", results,
    ]
    for pattern in args.only:
        argv += ["--only", pattern]
    log_path = os.path.join(workdir, "upstream.log")
    with open(log_path, "ab") as log:
        finished = subprocess.run(argv, check=False, stderr=log, cwd=COMPAT)
    if finished.returncode != 0:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = "".join(log.readlines()[-30:])
        raise SystemExit(f"the upstream runner failed ({finished.returncode}):\n{tail}")
    with open(results, encoding="utf-8") as handle:
        return json.load(handle)


def classify(outcomes):
    """:returns: ``{test id: (kind, detail)}``, kind one of passed, FAILED, expected failure,
    UNEXPECTED PASS, skipped, not applicable."""
    kinds = {}
    for test_id, result in outcomes.items():
        outcome, detail = result["outcome"], result["detail"]
        reason = expected_failure(test_id)
        if outcome == "not_run":
            kinds[test_id] = ("not applicable", not_applicable(test_id))
        elif outcome == "skipped":
            kinds[test_id] = ("skipped", detail)
        elif outcome == "passed":
            kinds[test_id] = ("UNEXPECTED PASS", reason) if reason else ("passed", "")
        else:
            kinds[test_id] = ("expected failure", reason) if reason else ("FAILED", detail)
    return kinds


COLUMNS = ("passed", "FAILED", "expected failure", "UNEXPECTED PASS", "skipped",
           "not applicable")


def report(kinds, verbose):
    """Print the summary; :returns: whether nothing failed unexpectedly."""
    per_suite = collections.defaultdict(collections.Counter)
    for test_id, (kind, _) in kinds.items():
        per_suite[suite_of(test_id)][kind] += 1
    headings = ("passed", "failed", "xfail", "xpass", "skipped", "n/a")
    zb.say("")
    zb.say(f"{'upstream suite':<52}" + "".join(f"{h:>8}" for h in headings))
    total = collections.Counter()
    for suite in sorted(per_suite):
        counts = per_suite[suite]
        total.update(counts)
        name = suite.replace("zaqar.tests.", "")
        zb.say(f"{name:<52}" + "".join(f"{counts[c]:>8}" for c in COLUMNS))
    zb.say(f"{'total':<52}" + "".join(f"{total[c]:>8}" for c in COLUMNS))

    for heading, kind in (("Expected failures", "expected failure"),
                          ("Not applicable (not run)", "not applicable")):
        by_reason = collections.defaultdict(list)
        for test_id, (test_kind, reason) in sorted(kinds.items()):
            if test_kind == kind:
                by_reason[reason].append(test_id)
        if by_reason:
            zb.say(f"\n{heading}:")
        for reason, ids in by_reason.items():
            zb.say(textwrap.fill(reason, 100, initial_indent="* ", subsequent_indent="  "))
            for test_id in ids:
                zb.say(f"    {test_id.replace('zaqar.tests.', '')}")
    bad = [(test_id, kind, detail) for test_id, (kind, detail) in sorted(kinds.items())
           if kind in ("FAILED", "UNEXPECTED PASS")]
    for test_id, kind, detail in bad:
        zb.say(f"\n{kind}: {test_id}")
        lines = (detail or "").rstrip().splitlines()
        zb.say("\n".join(lines if verbose else lines[-3:]))
    skipped = [(test_id, detail) for test_id, (kind, detail) in sorted(kinds.items())
               if kind == "skipped"]
    if skipped:
        zb.say("\nSkipped by upstream:")
        for test_id, reason in skipped:
            zb.say(f"    {test_id.replace('zaqar.tests.', '')}: {reason}")
    zb.say(f"\n{total['passed']} passed, {total['FAILED'] + total['UNEXPECTED PASS']} failed, "
           f"{total['skipped']} skipped ({total['expected failure']} expected failures, "
           f"{total['not applicable']} not applicable)")
    return not bad


def main(argv=None):
    args = parse_args(argv)
    compare.ensure_zaqar()
    ensure_test_packages()
    workdir = tempfile.mkdtemp(prefix="zaqar-suites-")
    redis = zb.RedisTarget()
    servers = {}
    try:
        reference_conf = os.path.join(workdir, "reference.conf")
        with open(reference_conf, "w", encoding="utf-8") as handle:
            handle.write(REFERENCE_CONF.format(
                uri=f"redis://{redis.host}:{redis.port}?dbid={REFERENCE_DB}"))
        for profile in PROFILE_CONFIG:
            servers[profile] = Server(redis, profile, workdir, websocket=profile == "default")
        for server in servers.values():
            server.start()
        with open(os.path.join(workdir, "functional-tests.conf"), "w",
                  encoding="utf-8") as handle:
            handle.write(FUNCTIONAL_CONF.format(
                url=servers["default"].url, reference_conf=reference_conf,
                project=uuid.uuid4().hex))
        zb.say(f"zaqar-tw on {servers['default'].url} and {servers['default'].ws_url} "
               f"(+{len(servers) - 1} profiles), {redis.describe()}; work dir {workdir}")
        ok = report(classify(run_upstream(args, servers, workdir)), args.verbose)
    finally:
        for server in servers.values():
            server.stop()
        redis.close()
        if args.keep:
            zb.say(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

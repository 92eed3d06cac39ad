"""Run OpenStack Zaqar's own test suites against running zaqar-tw servers.

This module runs inside Zaqar's virtualenv (``bench/.zaqar-venv``), started by
``compat/zaqar_suites.py``, which starts the servers and prints the summary.  It imports the
upstream test modules and points them at the servers:

* the functional suites (``zaqar/tests/functional``) already speak HTTP to ``[zaqar] url`` in
  integration mode; here the server they would start themselves is replaced by one that is
  already running, and the WebSocket suite's fixed ``ws://localhost:9000/`` by ours;
* the in-process suites (``zaqar/tests/unit/transport/wsgi/v2_0``) call a falcon app with WSGI
  environs; here each test class is subclassed so that its ``app`` is :class:`LiveApp`, a WSGI
  callable that forwards every environ to a zaqar-tw server as a real HTTP request.

Upstream's test bases still build the reference's bootstrap from a config file in ``setUp``;
that config (written by the driver) points at a Redis database of the run's private
redis-server, so nothing of the reference's storage is shared with zaqar-tw.

Tests listed in :mod:`expectations` as not applicable are not run; the outcome of every other
test is written to a JSON file: ``{test id: {"outcome", "detail"}}``.
"""

import argparse
import fnmatch
import http.client
import importlib
import json
import os
import sys
import types
import unittest
import urllib.parse
import uuid

import falcon

import expectations

FUNCTIONAL = "zaqar.tests.functional"
IN_PROCESS = "zaqar.tests.unit.transport.wsgi.v2_0"
# Project ids longer than this are left alone (tests of the 256-character limit).
PROJECT_ID_MAX = 256


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--servers", required=True,
                        help="JSON object: server profile name -> REST base URL")
    parser.add_argument("--websocket", required=True, help="WebSocket URL of the default server")
    parser.add_argument("--configs", required=True,
                        help="directory of functional-tests.conf and reference.conf")
    parser.add_argument("--results", required=True, help="JSON file the outcomes go to")
    parser.add_argument("--only", action="append", default=[],
                        help="run only test ids matching this glob (repeatable)")
    return parser.parse_args(argv)


class LiveApp:
    """A WSGI callable that sends each request to a zaqar-tw server over HTTP.

    Project ids get a per-test prefix, so tests never see each other's queues (upstream
    relies on fixed ids and a database wiped between its runs).
    """

    def __init__(self, base_url, project_prefix):
        parsed = urllib.parse.urlsplit(base_url)
        self.host, self.port = parsed.hostname, parsed.port
        self.project_prefix = project_prefix

    def project(self, value):
        mapped = self.project_prefix + value
        return mapped if value and len(mapped) <= PROJECT_ID_MAX else value

    def __call__(self, environ, start_response):
        # PATH_INFO is a WSGI string: the UTF-8 bytes of the decoded path as latin-1.
        path = urllib.parse.quote(environ["PATH_INFO"].encode("iso-8859-1"),
                                  safe="/-._~!$&'()*+,;=:@")
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        length = environ.get("CONTENT_LENGTH")
        body = environ["wsgi.input"].read(int(length)) if length else b""
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.putrequest(environ["REQUEST_METHOD"], path, skip_accept_encoding=True)
            for name, value in self._headers(environ):
                connection.putheader(name, value)
            connection.endheaders(body or None)
            response = connection.getresponse()
            data = response.read()
            headers = response.getheaders()
            status = response.status
        finally:
            connection.close()
        start_response(falcon.code_to_http_status(status), headers)
        return [data] if data else []

    def _headers(self, environ):
        """The request headers of ``environ``: Host left out, Content-Length only when the
        environ has one, project ids prefixed."""
        for key, value in environ.items():
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                yield key.replace("_", "-").title(), value
            elif key.startswith("HTTP_") and key not in ("HTTP_HOST",):
                name = key[5:].replace("_", "-").title()
                if name in ("X-Project-Id", "X-Tenant-Id", "X-Tenant"):
                    value = self.project(value)
                yield name, value


class _ExternalServer:
    """Stands in for the server upstream's functional base would start: ours already runs."""

    process = types.SimpleNamespace(terminate=lambda: None)

    def is_alive(self):
        return True


def adapt_functional(module, reference_conf, websocket_url):
    """Point the functional test classes of ``module`` at the running server."""
    for name in dir(module):
        cls = getattr(module, name)
        if isinstance(cls, type) and issubclass(cls, unittest.TestCase) \
                and getattr(cls, "server_class", None) is not None:
            cls.server = _ExternalServer()
            cls.config_file = reference_conf
    if hasattr(module, "websocket"):
        real = module.websocket

        def create_connection(url, *args, **kwargs):
            return real.create_connection(websocket_url, *args, **kwargs)

        module.websocket = types.SimpleNamespace(create_connection=create_connection)
    return module


def _skip_mongodb_wipe(boot):
    """Some upstream tearDowns drop the reference's MongoDB databases, their isolation
    between tests (here every test has projects of its own).  Give the reference's Redis
    driver, which they find instead, the attributes they touch, doing nothing."""
    storage = boot.storage._storage
    storage.connection.drop_database = lambda name: None
    storage.message_databases = ()
    boot.control.queues_database = None


def adapt_in_process(module, servers, reference_conf):
    """Subclass every test class of ``module`` so that its ``app`` is a :class:`LiveApp`.

    :returns: the adapted classes, named and placed as upstream's (test ids stay upstream's).
    """
    adapted = []
    for name in sorted(dir(module)):
        upstream = getattr(module, name)
        if not (isinstance(upstream, type) and issubclass(upstream, unittest.TestCase)
                and upstream.__module__ == module.__name__
                and getattr(upstream, "config_file", None)):
            continue

        class Live(upstream):
            config_file = reference_conf

            @property
            def app(self):
                return self._live_app

            @app.setter
            def app(self, reference_app):
                self.reference_app = reference_app

            def setUp(self):
                url = servers[expectations.server_profile(self.id())]
                self._live_app = LiveApp(url, uuid.uuid4().hex[:12] + "-")
                super().setUp()

            def tearDown(self):
                _skip_mongodb_wipe(self.boot)
                super().tearDown()

        Live.__name__ = Live.__qualname__ = name
        Live.__module__ = module.__name__
        adapted.append(Live)
    return adapted


def load_tests(args):
    """The upstream tests to run, adapted, in suite order; not applicable ones left out.

    :returns: ``(suite, not_run)``, ``not_run`` being the ids left out.
    """
    configs = args.configs
    reference_conf = os.path.join(configs, "reference.conf")
    servers = json.loads(args.servers)
    loader = unittest.TestLoader()
    classes = []
    for suite in expectations.SUITES:
        module = importlib.import_module(suite)
        if suite.startswith(FUNCTIONAL):
            adapt_functional(module, reference_conf, args.websocket)
            classes += [getattr(module, name) for name in sorted(dir(module))
                        if isinstance(getattr(module, name), type)
                        and issubclass(getattr(module, name), unittest.TestCase)
                        and getattr(module, name).__module__ == suite]
        else:
            classes += adapt_in_process(module, servers, reference_conf)
    tests = unittest.TestSuite()
    not_run = []
    for cls in classes:
        for test in loader.loadTestsFromTestCase(cls):
            test_id = test.id()
            if args.only and not any(fnmatch.fnmatchcase(test_id, pattern)
                                     for pattern in args.only):
                continue
            if expectations.not_applicable(test_id):
                not_run.append(test_id)
            else:
                tests.addTest(test)
    return tests, not_run


class Outcomes(unittest.TestResult):
    """Collects one outcome per test id, printing a dot-line as it goes."""

    def __init__(self):
        super().__init__()
        self.outcomes = {}

    def _record(self, test, outcome, detail=""):
        self.outcomes[test.id()] = {"outcome": outcome, "detail": detail}
        sys.stdout.write({"passed": ".", "failed": "F", "skipped": "s"}[outcome])
        sys.stdout.flush()

    def addSuccess(self, test):
        self._record(test, "passed")

    def addFailure(self, test, err):
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        self._record(test, "failed", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        self._record(test, "skipped", reason)

    def addSubTest(self, test, subtest, err):
        if err is not None:
            self._record(test, "failed", self._exc_info_to_string(err, test))


def main(argv=None):
    args = parse_args(argv)
    os.environ["ZAQAR_TESTS_CONFIGS_DIR"] = args.configs
    os.environ["ZAQAR_TEST_INTEGRATION"] = "1"
    # The in-process suites skip themselves unless told MongoDB runs; no MongoDB is used here.
    os.environ["ZAQAR_TEST_MONGODB"] = "1"
    tests, not_run = load_tests(args)
    result = Outcomes()
    tests.run(result)
    sys.stdout.write("\n")
    for test_id in not_run:
        result.outcomes[test_id] = {"outcome": "not_run", "detail": ""}
    with open(args.results, "w", encoding="utf-8") as handle:
        json.dump(result.outcomes, handle, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

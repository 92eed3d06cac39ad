"""Schemathesis against a live service (issue 13): every operation of the OpenAPI document,
a fixed number of generated requests each with a fixed seed; no server error and no response
that breaks the document (status, content type, headers, body schema)."""

import os
import sys

import pytest_twisted

from tests.processes import ROOT, ZaqarProcess
from zaqar_tw.transport.rest.openapi import openapi_document

EXAMPLES = 50
SEED = 1
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


@pytest_twisted.ensureDeferred
async def test_schemathesis_finds_no_server_error_and_no_break_of_the_document(tmp_path):
    """``st run`` over the served /v2/openapi.json: every operation tested, all passed."""
    from twisted.internet import reactor
    from twisted.internet.utils import getProcessOutputAndValue

    service = ZaqarProcess(str(tmp_path / "zaqar"), "redis://127.0.0.1:6379")
    await service.start()
    try:
        st = os.path.join(os.path.dirname(sys.executable), "st")
        out, err, code = await getProcessOutputAndValue(
            st,
            ["run", f"{service.url}/v2/openapi.json", "--url", service.url,
             "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--checks", CHECKS,
             "--phases", "examples,coverage,fuzzing", "--workers", "1", "--no-shrink",
             "--request-timeout", "10"],
            env={**os.environ, "PYTHONPATH": ROOT, "SCHEMATHESIS_HOOKS": "tests.openapi_hooks",
                 "NO_COLOR": "1"},
            path=str(tmp_path), reactor=reactor,
        )
    finally:
        await service.stop()
    report = out.decode("utf-8", "replace") + err.decode("utf-8", "replace")
    assert code == 0, report[-6000:]
    # Every operation but HEAD /v2/ping, which schemathesis does not send.
    operations = sum(len(ops) for ops in openapi_document(False)["paths"].values()) - 1
    assert f"Tested: {operations}" in report, report[-3000:]
    assert " failed" not in report.split("Test cases:")[-1], report[-6000:]

"""CORS seen by a real browser: a page served from one origin calls the API on another, through
the browser's own preflight and CORS checks."""

import shutil

import pytest
import pytest_twisted

CHROMIUM = shutil.which("chromium")

PAGE = """<!doctype html><title>cors</title><script>
const api = "%(api)s";
const identity = {"Client-ID": "%(client_id)s", "X-Project-ID": "%(project)s"};
async function run() {
  const out = {};
  let reply = await fetch(api + "/v2/queues/web/messages", {
    method: "POST",
    headers: {...identity, "Content-Type": "application/json"},
    body: JSON.stringify({messages: [{body: "from the page"}]}),
  });
  out.post = reply.status;
  out.location = reply.headers.get("Location");
  reply = await fetch(api + "/v2/queues/web/messages?echo=true", {headers: identity});
  out.bodies = (await reply.json()).messages.map(message => message.body);
  out.request_id = reply.headers.get("X-OpenStack-Request-ID");
  try {
    await fetch(api + "/v2/queues", {headers: {...identity, "X-Unlisted": "1"}});
    out.unlisted = "read";
  } catch (error) {
    out.unlisted = "refused";
  }
  return out;
}
run().catch(error => ({error: String(error)})).then(
  out => fetch("/report", {method: "POST", body: JSON.stringify(out)}));
</script>"""


class _Page:
    """A page origin on 127.0.0.1: serves the page, and takes the page's report."""

    def __init__(self):
        from twisted.internet.defer import Deferred

        self.port = None
        self.report = Deferred()
        self.html = b""

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.port.getHost().port}"

    def resource(self):
        import json

        from twisted.web.resource import Resource

        page = self

        class Root(Resource):
            isLeaf = True

            def render_GET(self, request):
                request.setHeader(b"content-type", b"text/html")
                return page.html

            def render_POST(self, request):
                if not page.report.called:
                    page.report.callback(json.loads(request.content.read()))
                return b""

        return Root()


@pytest_twisted.async_yield_fixture
async def page():
    """The page's server, listening before the service is configured to allow it."""
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.web.server import Site

    served = _Page()
    served.port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Site(served.resource())
    )
    yield served
    await served.port.stopListening()


@pytest.fixture
def config(page):
    """The service allows the page's origin."""
    from zaqar_tw.config import Config

    built = Config()
    built.set("cors", "allowed_origin", page.origin)
    return built


async def _browse(url, profile):
    """Run headless Chromium on ``url`` until killed; :returns: its process transport and
    a Deferred firing when it has exited."""
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.internet.protocol import ProcessProtocol

    class Browser(ProcessProtocol):
        def __init__(self):
            self.ended = Deferred()

        def processEnded(self, reason):
            self.ended.callback(None)

    browser = Browser()
    transport = reactor.spawnProcess(
        browser, CHROMIUM,
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", url],
        env=None,
    )
    return transport, browser.ended


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest_twisted.ensureDeferred
async def test_a_browser_page_of_an_allowed_origin_uses_the_api(api, page, tmp_path):
    """Headless Chromium runs a page that posts and lists messages on the API of another
    origin (its preflight granted), reads the exposed headers, and is refused a request
    with a header the service does not allow."""
    from twisted.internet import reactor

    page.html = (PAGE % {"api": api.url, "client_id": api.client_id,
                         "project": api.project}).encode()
    transport, ended = await _browse(page.origin + "/", tmp_path / "profile")
    try:
        report = await page.report.addTimeout(60, reactor)
    finally:
        transport.signalProcess("KILL")
        await ended
    assert report == {
        "post": 201,
        "location": report["location"],
        "bodies": ["from the page"],
        "request_id": report["request_id"],
        "unlisted": "refused",
    }
    assert report["location"].startswith("/v2/queues/web/messages?ids=")
    assert report["request_id"].startswith("req-")

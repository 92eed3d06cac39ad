"""The mailto notifier (spec 5.1) against a real SMTP server on 127.0.0.1 (Twisted's ESMTP
server, tests/notify/smtp_server.py): recipients, subject and sender rules, the body,
STARTTLS and implicit TLS with a certificate made for the test, what 4xx and 5xx answers
mean, the sendmail-style command, and mail end to end through the REST API."""

import json
import shlex
import sys

import pytest
import pytest_twisted
from zope.interface.verify import verifyObject

from tests.configured import configured_service
from tests.notify.smtp_server import SmtpServer
from zaqar_tw.config import Config, ConfigError
from zaqar_tw.errors import BadRequest
from zaqar_tw.interfaces import INotifier
from zaqar_tw.notify.mailto import DEFAULT_SUBJECT, MailtoNotifier
from zaqar_tw.notify.outcome import DeliveryFailed

PAYLOAD = {"body": {"event": "a"}, "ttl": 300, "queue_name": "mq",
           "Message_Type": "Notification"}


def subscription(subscriber, **options):
    return {
        "id": "s", "source": "mq", "subscriber": subscriber, "ttl": 3600, "age": 0,
        "options": options, "confirmed": True, "project": "p",
        "delivery": {"id": "d", "message_id": "m", "attempt": 1, "traceparent": None},
    }


def notifier_for(options):
    """A MailtoNotifier built from ``[notification]`` options (text)."""
    from twisted.internet import reactor

    config = Config()
    for name, value in options.items():
        config.set("notification", name, value)
    return MailtoNotifier(reactor, config, {})


async def server(tmp_path, tls=None, users=None):
    from twisted.internet import reactor

    return await SmtpServer(reactor, tls, tmp_path, users).start()


@pytest_twisted.async_yield_fixture
async def smtp(tmp_path):
    """A plain SMTP server on 127.0.0.1."""
    started = await server(tmp_path)
    yield started
    await started.stop()


def test_the_notifier_provides_its_interface():
    """MailtoNotifier provides INotifier and serves mailto."""
    notifier = notifier_for({})
    verifyObject(INotifier, notifier)
    assert notifier.schemes == ("mailto",)


@pytest_twisted.ensureDeferred
async def test_mail_carries_recipients_subject_sender_and_body(smtp):
    """Each recipient of the URI gets the payload as JSON, with the URI's subject (its name
    in any case), From options.from; the envelope sender is always mail_sender's."""
    notifier = notifier_for(smtp.config_lines(mail_sender="Ops <zaqar@ops.example>"))
    await notifier.deliver(subscription(
        "mailto:a@example.com,b%40example.org?SUBJECT=Queue%20news&cc=x", subject="no",
        **{"from": "Queue bot <bot@example.com>"}), PAYLOAD)
    (mail,) = await smtp.wait_for(1)
    assert mail.sender == "zaqar@ops.example"
    assert mail.recipients == ["a@example.com", "b@example.org"]
    assert mail.message["To"] == "a@example.com, b@example.org"
    assert mail.message["Subject"] == "Queue news"
    assert mail.message["From"] == "Queue bot <bot@example.com>"
    assert mail.message["Date"] and mail.message["Message-ID"]
    assert json.loads(mail.text) == PAYLOAD
    assert not mail.secure


@pytest_twisted.ensureDeferred
async def test_subject_and_sender_fall_back(smtp):
    """Without a subject in the URI, options.subject; without either, the default; without
    a usable options.from, mail_sender."""
    notifier = notifier_for(smtp.config_lines())
    await notifier.deliver(subscription("mailto:a@example.com", subject="From options"),
                           PAYLOAD)
    await notifier.deliver(subscription("mailto:a@example.com", **{"from": "not mail"}),
                           PAYLOAD)
    first, second = await smtp.wait_for(2)
    assert first.message["Subject"] == "From options"
    assert second.message["Subject"] == DEFAULT_SUBJECT
    assert first.message["From"] == "Zaqar Notifications <no-reply@openstack.org>"
    assert second.message["From"] == "Zaqar Notifications <no-reply@openstack.org>"


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@pytest_twisted.ensureDeferred
async def test_mail_goes_over_tls(tmp_path, tls):
    """With STARTTLS or implicit TLS, mail is sent encrypted once the smarthost's
    certificate checks out against smtp_ca_file."""
    secure = await server(tmp_path, tls)
    try:
        await notifier_for(secure.config_lines()).deliver(
            subscription("mailto:a@example.com"), PAYLOAD)
        (mail,) = await secure.wait_for(1)
        assert mail.secure
        assert json.loads(mail.text) == PAYLOAD
    finally:
        await secure.stop()


@pytest_twisted.ensureDeferred
async def test_the_client_logs_in_when_a_user_is_set(tmp_path):
    """With smtp_user_name and smtp_user_password the client logs in (over STARTTLS); a
    wrong password is refused for good, and without a user the smarthost refuses."""
    secure = await server(tmp_path, "starttls", users={"zaqar": "s3cret"})
    try:
        options = secure.config_lines(smtp_user_name="zaqar", smtp_user_password="s3cret")
        await notifier_for(options).deliver(subscription("mailto:a@example.com"), PAYLOAD)
        (mail,) = await secure.wait_for(1)
        assert (mail.user, mail.secure) == ("zaqar", True)
        options["smtp_user_password"] = "wrong"
        with pytest.raises(DeliveryFailed) as failed:
            await notifier_for(options).deliver(subscription("mailto:a@example.com"), PAYLOAD)
        assert failed.value.permanent
        with pytest.raises(DeliveryFailed):
            await notifier_for(secure.config_lines()).deliver(
                subscription("mailto:a@example.com"), PAYLOAD)
        assert len(secure.mails) == 1
    finally:
        await secure.stop()


@pytest_twisted.ensureDeferred
async def test_starttls_is_required_when_configured(smtp):
    """A smarthost that offers no STARTTLS gets no mail when smtp_tls = starttls."""
    notifier = notifier_for(smtp.config_lines(smtp_tls="starttls"))
    with pytest.raises(DeliveryFailed):
        await notifier.deliver(subscription("mailto:a@example.com"), PAYLOAD)
    assert smtp.mails == []


@pytest_twisted.ensureDeferred
async def test_a_certificate_that_does_not_check_out_gets_no_mail(tmp_path):
    """Without the test's CA, the self-signed certificate is refused: no mail."""
    secure = await server(tmp_path, "starttls")
    try:
        options = secure.config_lines()
        del options["smtp_ca_file"]
        with pytest.raises(DeliveryFailed):
            await notifier_for(options).deliver(subscription("mailto:a@example.com"), PAYLOAD)
        assert secure.mails == []
    finally:
        await secure.stop()


@pytest.mark.parametrize("code, permanent", [(451, False), (452, False), (550, True),
                                             (553, True)])
@pytest_twisted.ensureDeferred
async def test_smtp_answers_say_whether_to_retry(smtp, code, permanent):
    """A 4xx answer fails the attempt as retryable, a 5xx one as permanent."""
    smtp.rcpt_code = code
    with pytest.raises(DeliveryFailed) as failed:
        await notifier_for(smtp.config_lines()).deliver(
            subscription("mailto:a@example.com"), PAYLOAD)
    assert failed.value.permanent is permanent
    assert str(code) in failed.value.reason
    smtp.rcpt_code = None  # the smarthost recovers: the next attempt is delivered
    await notifier_for(smtp.config_lines()).deliver(subscription("mailto:a@example.com"),
                                                    PAYLOAD)
    assert len(await smtp.wait_for(1)) == 1


@pytest_twisted.ensureDeferred
async def test_an_unreachable_smarthost_is_retryable(smtp):
    """A smarthost that refuses connections fails the attempt as retryable."""
    from tests.processes import free_port

    notifier = notifier_for(smtp.config_lines(smtp_port=str(free_port())))
    with pytest.raises(DeliveryFailed) as failed:
        await notifier.deliver(subscription("mailto:a@example.com"), PAYLOAD)
    assert not failed.value.permanent


def command(tmp_path, status=0):
    """A sendmail-style command that writes its standard input to a file, then exits."""
    script = (f"import sys; open({str(tmp_path / 'mail.eml')!r}, 'wb')"
              f".write(sys.stdin.buffer.read()); sys.exit({status})")
    return shlex.join([sys.executable, "-c", script])


@pytest_twisted.ensureDeferred
async def test_the_command_gets_the_message(tmp_path):
    """In third_part mode the message is piped to smtp_command."""
    import email
    import email.policy

    notifier = notifier_for({"smtp_command": command(tmp_path)})
    await notifier.deliver(subscription("mailto:a@example.com?subject=Hi"), PAYLOAD)
    message = email.message_from_bytes((tmp_path / "mail.eml").read_bytes(),
                                       policy=email.policy.default)
    assert (message["To"], message["Subject"]) == ("a@example.com", "Hi")
    assert json.loads(message.get_content()) == PAYLOAD


@pytest.mark.parametrize("status, permanent", [(75, False), (1, True)])
@pytest_twisted.ensureDeferred
async def test_the_command_status_says_whether_to_retry(tmp_path, status, permanent):
    """EX_TEMPFAIL (75) is retryable; another failing status is permanent."""
    notifier = notifier_for({"smtp_command": command(tmp_path, status)})
    with pytest.raises(DeliveryFailed) as failed:
        await notifier.deliver(subscription("mailto:a@example.com"), PAYLOAD)
    assert failed.value.permanent is permanent
    assert f"status {status}" in failed.value.reason


def test_without_a_transport_mailto_is_refused():
    """A command that is not installed, and no smarthost: subscribing says why."""
    notifier = notifier_for({"smtp_command": "/nonexistent/sendmail -t -oi"})
    with pytest.raises(BadRequest) as refused:
        notifier.check_subscriber("mailto:a@example.com")
    assert refused.value.description == (
        "mailto subscribers are not served: this service has no mail transport: its "
        "smtp_command, /nonexistent/sendmail, is not installed, and no SMTP smarthost is "
        "configured ([notification] smtp_mode = self_local, smtp_host).")


@pytest.mark.parametrize("uri, reason", [
    ("mailto:", "it names no recipient"),
    ("mailto:?subject=x", "it names no recipient"),
    ("mailto:nobody", "'nobody' is not an e-mail address"),
    ("mailto:a@example.com%0D%0ABcc:x@evil.test", "is not an e-mail address"),
    ("mailto:" + ",".join(f"u{i}@example.com" for i in range(21)), "more than 20"),
])
def test_bad_mailto_uris_are_refused(tmp_path, uri, reason):
    """A URI without recipients, with a malformed one, or with too many is refused."""
    notifier = notifier_for({"smtp_command": command(tmp_path)})
    with pytest.raises(BadRequest, match="is not a valid mailto URI") as refused:
        notifier.check_subscriber(uri)
    assert reason in refused.value.description


def test_self_local_needs_a_host():
    """smtp_mode = self_local without smtp_host stops start-up."""
    with pytest.raises(ConfigError, match="set smtp_host"):
        notifier_for({"smtp_mode": "self_local"})


@pytest.mark.zaqar_config(("notification", "smtp_command", "/nonexistent/sendmail"))
@pytest_twisted.ensureDeferred
async def test_rest_refuses_mailto_without_a_transport(api):
    """Subscribing mailto: to a service that cannot send mail answers 400."""
    reply = await api.post("/v2/queues/mq/subscriptions",
                           json={"subscriber": "mailto:a@example.com"})
    assert reply.status == 400
    assert reply.json["description"].startswith("mailto subscribers are not served")


@pytest_twisted.ensureDeferred
async def test_mail_end_to_end_through_the_rest_api(tmp_path, smtp):
    """Subscribe mailto: over REST on a service configured with a smarthost, post: the mail
    arrives, with the subscription's subject."""
    lines = "".join(f"{k} = {v}\n" for k, v in smtp.config_lines().items())
    async with configured_service(tmp_path, "[notification]\n" + lines) as client:
        status, body = await client.request("POST", "/v2/queues/mq/subscriptions", {
            "subscriber": "mailto:ops@example.com", "options": {"subject": "mq news"}})
        assert status == 201, body
        status, _ = await client.request("POST", "/v2/queues/mq/messages", {
            "messages": [{"body": {"event": "a"}, "ttl": 300}]})
        assert status == 201
        (mail,) = await smtp.wait_for(1)
    assert mail.recipients == ["ops@example.com"]
    assert mail.message["Subject"] == "mq news"
    assert json.loads(mail.text) == PAYLOAD


@pytest_twisted.ensureDeferred
async def test_a_silent_smarthost_times_out():
    """A smarthost that accepts the connection and never answers: the attempt ends after
    delivery_timeout, and the connection is closed."""
    from twisted.internet import defer, reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.protocol import Factory, Protocol

    closed = defer.Deferred()

    class Silent(Protocol):
        def connectionLost(self, reason):
            closed.callback(None)

    port = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
        Factory.forProtocol(Silent))
    try:
        notifier = notifier_for({
            "smtp_mode": "self_local", "smtp_host": "127.0.0.1", "smtp_tls": "off",
            "smtp_port": str(port.getHost().port), "delivery_timeout": "0.2"})
        with pytest.raises(defer.TimeoutError):
            await notifier.deliver(subscription("mailto:a@example.com"), PAYLOAD)
        await closed.addTimeout(5, reactor)
    finally:
        await port.stopListening()

"""Every zope.interface of zaqar-tw, in one place.

Storage contracts in brief (``tests/storage/`` checks them against every store):

* Every method returns a ``Deferred``.  A store that cannot reach its back end fails it with
  :class:`zaqar_tw.errors.StoreUnavailable`; the core turns that into a 503.
* Time comes from the ``IReactorTime`` the store was built with, never from the wall clock
  directly; expiry is decided by comparing stored expiry times with that clock, never by
  relying on the back end's key expiry.  In the service that clock is one every node shares:
  a store whose nodes share a server also provides :class:`ITimeSource`, and each node
  keeps its clock's offset to that server's (see :mod:`zaqar_tw.clock`).
* Every queue belongs to a project; names are unique per project.  Message and claim ids are
  dashed lowercase UUID4 strings scoped to their queue: an id of queue A is unknown in queue B.
* A *message* handed out by a store is a plain dict::

      {"id": str, "ttl": int, "age": int, "body": <JSON value>, "claim_id": str | None,
       "claim_count": int, "created": float (epoch seconds of the store's clock),
       "checksum": str (only when one was stored)}

  ``claim_id`` is set only while the message is held by a live claim.  ``age`` is whole
  seconds since ``created``.  ``ttl`` is the current ttl (a claim's grace may raise it).
* A message is *expired* once ``now`` reaches its expiry: ``created + ttl``, or later when a
  claim's grace extended it; expired messages are invisible to every read, claim, pop and
  count (an expired marker counts as unknown).  It is *delayed* while
  ``now < created + delay``.  It is *claimed* while it carries a claim whose expiry is later
  than now.
* A caller sees its own completed writes: a read issued after an earlier write's Deferred
  fired reflects that write.
* Quotas: the methods that may create a queue take ``max_queues``, and those that add
  messages or subscriptions ``max_messages`` or ``max_subscriptions`` (``0``: no quota).
  The core passes one only while it is set, so a store that predates quotas keeps working
  without them.  The check and the write are one atomic step, so concurrent requests (on
  any node) never take a queue or project past its quota; over it, the call fails with
  :class:`zaqar_tw.errors.QuotaExceeded` and changes nothing.
"""

from zope.interface import Attribute, Interface


class IQueueStore(Interface):
    """Queues of a project and their metadata."""

    def create(project, name, metadata, max_queues=0):
        """Create the queue unless it exists.

        :param metadata: a dict (already validated) stored as the queue's metadata.
        :param max_queues: the most queues the project may have (``0``: no quota).
        :returns: Deferred firing with ``True`` if created, ``False`` if it already existed
            (its metadata is then left untouched).
        :raises zaqar_tw.errors.QuotaExceeded: (``"queues"``) the queue does not exist and
            the project has ``max_queues`` queues already.
        """

    def exists(project, name):
        """:returns: Deferred firing with whether the queue exists."""

    def get_metadata(project, name):
        """:returns: Deferred firing with the stored metadata dict, or ``None`` if the queue
        does not exist."""

    def set_metadata(project, name, metadata, expected=None):
        """Replace the queue's metadata.

        :param expected: when given, the metadata the caller read: the write happens only if
            the stored metadata still equals it (compare and set).
        :returns: Deferred firing with ``True``, or ``False`` if the queue does not exist
            (nothing is then created).
        :raises zaqar_tw.errors.MetadataChanged: ``expected`` no longer matches (nothing is
            written).
        """

    def delete(project, name):
        """Delete the queue with all its messages, claims and subscriptions; a missing queue
        is no error.

        :returns: Deferred firing with ``None``.
        """

    def list(project, marker=None, limit=10, detailed=False):
        """List queues sorted by name.

        :param marker: only names strictly greater than this one.
        :returns: Deferred firing with a list of ``{"name": str}`` dicts, each with
            ``"metadata": dict`` when ``detailed``.
        """

    def count(project):
        """:returns: Deferred firing with the number of queues of the project."""

    def stats(project, name):
        """Counters of a queue (all zero when it does not exist).

        :returns: Deferred firing with ``{"claimed": int, "free": int, "total": int,
            "oldest": message | None, "newest": message | None}``; ``total`` counts the
            unexpired messages (delayed ones included), ``claimed`` those held by live claims,
            ``free = total - claimed``; oldest and newest by enqueue order.
        """

    def purge(project, name):
        """Delete every message and claim of the queue (claimed and delayed ones too), keeping
        the queue, its metadata and its subscriptions.

        :returns: Deferred firing with ``None``.
        """


class IMessageStore(Interface):
    """Messages of a queue, in FIFO order."""

    def post(project, queue, messages, client_id, max_messages=0, max_queues=0):
        """Append messages atomically (all or none), creating the queue if needed.

        :param messages: a list of ``{"ttl": int, "delay": int, "body": <JSON value>}`` dicts,
            optionally with ``"checksum": str``.
        :param client_id: the poster's normalised Client-ID (used by ``echo``).
        :param max_messages: the most unexpired messages (delayed and claimed ones included)
            the queue may hold once they are added (``0``: no quota).
        :param max_queues: as for :meth:`IQueueStore.create`, when the queue is new.
        :returns: Deferred firing with ``(ids, subscribed)``: the new ids, in input order,
            and whether the queue may have subscriptions to notify: ``True`` when it has a
            live one (a store may also answer ``True`` when all have expired); ``False``
            spares the notification dispatcher a look at the subscriptions, so a store
            answers it from the same round trip as the post.
        :raises zaqar_tw.errors.QuotaExceeded: ``"messages"`` or ``"queues"``.
        """

    def list(project, queue, marker=None, limit=10, echo=False, client_id=None,
             include_claimed=False, include_delayed=False):
        """A page of messages in enqueue order.

        :param marker: the id of the last message of the previous page; the page starts right
            after it.  An unknown marker starts from the head.
        :param echo: include messages posted by ``client_id``.
        :returns: Deferred firing with a list of messages (at most ``limit``); a store that
            bounds the work of one call may stop before the page is full and return a
            :class:`~zaqar_tw.storage.page.Page` whose ``cursor`` is the marker the next page
            starts from.
        """

    def get(project, queue, message_id):
        """:returns: Deferred firing with the message, or ``None`` if it does not exist in this
        queue or has expired."""

    def bulk_get(project, queue, message_ids):
        """:returns: Deferred firing with the messages that exist, in the order of the ids
        given; unknown ids are skipped."""

    def delete(project, queue, message_id, claim_id=None):
        """Delete one message; a missing message is no error.

        :param claim_id: required when the message is claimed, and must be its live claim.
        :raises MessageIsClaimed: claimed and ``claim_id`` is ``None`` or another live claim.
        :raises MessageNotClaimed: ``claim_id`` given but the message is not claimed.
        :raises ClaimNotValid: claimed, and ``claim_id`` is unknown or expired.
        """

    def bulk_delete(project, queue, message_ids, claim_ids=None):
        """Delete messages by id, ignoring claims unless ``claim_ids`` is given; then a claimed
        message is deleted only if its live claim is among them.

        :raises MessageIsClaimed: ``claim_ids`` given and a listed message is held by a live
            claim that is not among them (nothing is deleted then).
        """

    def pop(project, queue, limit):
        """Take up to ``limit`` claimable messages and delete them, atomically.

        :returns: Deferred firing with the messages removed, each with a fresh ``claim_id``
            that was never stored.
        """


class IClaimStore(Interface):
    """Leases on messages."""

    def create(project, queue, ttl, grace, limit):
        """Claim up to ``limit`` of the oldest claimable messages (unexpired, undelayed, not
        held by a live claim).  A claimed message that would expire before the claim does
        lives on until ``claim expiry + grace`` and reports ``ttl = claim ttl + grace``.

        :returns: Deferred firing with ``(claim_id, messages)``; ``(None, [])`` when nothing
            was claimable (no claim is stored then).
        """

    def get(project, queue, claim_id):
        """:returns: Deferred firing with ``({"id": str, "ttl": int, "age": int}, messages)``
        for a live claim, or ``None`` when the claim is unknown or has expired."""

    def update(project, queue, claim_id, ttl, grace):
        """Renew a live claim: expiry becomes now + ttl, and the grace rule of :meth:`create`
        is applied again to its messages.

        :returns: Deferred firing with ``True``, or ``False`` if the claim is unknown or
            expired.
        """

    def delete(project, queue, claim_id):
        """Release a claim: its messages become claimable again.  Unknown claims are no error.

        :returns: Deferred firing with ``None``.
        """


class ISubscriptionStore(Interface):
    """Subscriptions of a queue: who is notified of the messages posted to it.

    A *subscription* handed out by a store is a plain dict::

        {"id": str, "source": str (the queue name), "subscriber": str (a URI),
         "ttl": int, "age": int, "options": dict, "confirmed": bool}

    ``age`` is whole seconds since the subscription was created, or since its ttl was last
    set by :meth:`update`.  A subscription is *expired* once ``now`` reaches that moment plus
    ``ttl``; expired subscriptions are invisible to every call (a store may remove them
    lazily).  Subscription ids are dashed lowercase UUID4 strings scoped to their queue.  At
    most one live subscription of a queue has a given subscriber URI.  New subscriptions
    start unconfirmed.
    """

    def create(project, queue, subscriber, ttl, options, max_subscriptions=0, max_queues=0):
        """Subscribe ``subscriber`` to the queue, creating the queue (with metadata ``{}``)
        if needed.

        :param options: a dict (already validated), stored as given.
        :param max_subscriptions: the most live subscriptions the queue may have once this
            one is added (``0``: no quota).
        :param max_queues: as for :meth:`IQueueStore.create`, when the queue is new.
        :returns: Deferred firing with ``(subscription, created)``: the new subscription and
            ``True``; or, when a live subscription of the queue already has this subscriber,
            that one (left unchanged) and ``False`` (no quota applies then).
        :raises zaqar_tw.errors.QuotaExceeded: ``"subscriptions"`` or ``"queues"``.
        """

    def get(project, queue, subscription_id):
        """:returns: Deferred firing with the subscription, or ``None`` if it does not exist
        in this queue or has expired."""

    def list(project, queue, marker=None, limit=10):
        """A page of the queue's live subscriptions, sorted by id.

        :param marker: only ids strictly greater than this one (it need not exist).
        :returns: Deferred firing with a list of subscriptions: ``limit`` of them unless no
            more follow (expired ones do not count), empty for a queue that does not exist.
        """

    def update(project, queue, subscription_id, changes):
        """Change a live subscription.

        :param changes: a dict with some of ``"subscriber"``, ``"ttl"`` (the age then
            restarts from 0) and ``"options"`` (replaces the stored options).
        :returns: Deferred firing with ``True``, or ``False`` if the subscription does not
            exist or has expired.
        :raises zaqar_tw.errors.SubscriptionAlreadyExists: the new subscriber is another
            live subscription's (nothing is changed).
        """

    def confirm(project, queue, subscription_id, confirmed):
        """Set whether a live subscription is confirmed.

        :returns: Deferred firing with ``True``, or ``False`` if it does not exist or has
            expired.
        """

    def delete(project, queue, subscription_id):
        """Unsubscribe; a missing subscription is no error.

        :returns: Deferred firing with ``None``.
        """

    def purge(project, queue):
        """Delete every subscription of the queue, keeping the queue and its messages.

        :returns: Deferred firing with ``None``.
        """


class IRateStore(Interface):
    """Token buckets of projects, kept in the store so that every node and worker sharing
    it draws from the same ones (request rate limits, ``[limits]``).

    A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; each request
    takes one.  A bucket never used, or idle long enough to fill up, is full.  Buckets are
    named per project (the core names them after operation classes: ``"read"``,
    ``"write"``...); buckets of different projects or names are independent.
    """

    def take(project, bucket, rate, burst):
        """Take one token from the bucket, atomically, if it holds a whole one.

        :param rate: tokens gained per second of the store's clock (``> 0``).
        :param burst: the bucket's size in tokens (``>= 1``).  ``rate`` and ``burst`` are
            those of the request: a bucket follows whatever it is called with.
        :returns: Deferred firing with ``(taken, remaining, wait)``: whether a token was
            taken; the whole tokens left; and the seconds (float) until the bucket next
            gains a whole token (``0`` when it is full), i.e. when a refused request
            could succeed.
        """


class IStorage(Interface):
    """A storage back end: the controllers of each resource plus its lifecycle."""

    queues = Attribute("The IQueueStore provider.")
    messages = Attribute("The IMessageStore provider.")
    claims = Attribute("The IClaimStore provider.")
    subscriptions = Attribute("The ISubscriptionStore provider.")
    rates = Attribute(
        "The IRateStore provider, or None for a store that keeps no token buckets (the "
        "service then refuses to start with a [limits] rate set)."
    )

    def connect():
        """Start using the back end (the service calls it once, at start-up).

        :returns: Deferred firing once the back end is ready.  Until it is (and whenever
            it cannot be reached), operations fail with ``StoreUnavailable``.
        """

    def ping():
        """:returns: Deferred firing with whether the back end answers."""

    def close():
        """Release connections. :returns: Deferred firing when closed."""


class ITimeSource(Interface):
    """A clock every node of a deployment can read: the store's server's (Redis ``TIME``).

    Optional: a storage back end whose nodes share a server provides it beside
    :class:`IStorage`, and the service then keeps its notion of "now" on that clock (each
    node measures its offset to it at start and again periodically, so the hot path reads
    no network), so that a node whose own clock is wrong neither expires messages early nor
    takes over live claims.  A store without it (one node, one file) runs on the node's
    clock.
    """

    def time():
        """Read the shared clock once.

        :returns: Deferred firing with its time in seconds since the epoch (a float, to the
            microsecond where the source has it).
        :raises zaqar_tw.errors.StoreUnavailable: (in the Deferred) it cannot be read now.
        """


class IAuthenticator(Interface):
    """Turns the headers of a request into a RequestContext.

    The class is built once at start-up as ``cls(reactor, config, clock)``: the reactor (for
    network clients), the :class:`~zaqar_tw.config.Config` and the ``IReactorTime`` that
    every notion of "now" comes from (token expiry, caches).

    A provider holding connections may also have a ``close()`` method, returning a Deferred
    that fires once they are closed: the service calls it when it stops, after the
    listeners have closed.  (A provider wrapping another forwards it.)
    """

    def authenticate(headers, method, path):
        """:param headers: a mapping of lowercase header names to string values.
        :param method: the HTTP method of the request (over WebSocket: its REST twin's, or
            ``None`` for an action that has no single REST twin).
        :param path: the request path (over WebSocket: its REST twin's).
        :returns: Deferred firing with a :class:`zaqar_tw.context.RequestContext`; its
            ``expires`` says until when (clock seconds) the identity holds, if it ends.
        :raises zaqar_tw.errors.BadRequest: the identity headers are missing or malformed.
        :raises zaqar_tw.errors.Unauthorized: a credential is missing, invalid or expired.
        :raises zaqar_tw.errors.Unavailable: the identity service could not be asked.
        """


class IPolicy(Interface):
    """Decides whether a caller may run an operation.  Both methods answer at once (no
    Deferred) and cheaply: the core asks before every operation."""

    def enforce(rule, context):
        """:param rule: a rule name such as ``"queues:create"``.
        :param context: the caller's :class:`zaqar_tw.context.RequestContext`.
        :raises zaqar_tw.errors.Forbidden: when the caller may not (403, "You are not
            authorized to complete this action.").
        """

    def allows(rule, context):
        """:param rule: a rule name, as for :meth:`enforce`.
        :param context: the caller's :class:`zaqar_tw.context.RequestContext`.
        :returns: whether the caller passes ``rule`` (a rule the policy does not know is
            decided by its default rule, else refused).
        """


class IMessageFilter(Interface):
    """A stage of the message filter chain (``[filters] chain``), registered in the
    ``zaqar_tw.filters`` entry-point group.  The class is built once at start-up as
    ``cls(config, options)``: the :class:`~zaqar_tw.config.Config` and the ``[filter:<name>]``
    section as a dict of strings (``{}`` when absent).  The class declares the names that
    section may hold in a class attribute ``known_options`` (a collection of str; another
    name stops start-up); without it (or with ``None``) the section is not checked.

    Each hook may return its result directly, or a Deferred or coroutine firing with it; the
    chain awaits one filter before calling the next.  Hooks may change the message dicts in
    place.  A hook refuses a request by raising a :class:`zaqar_tw.errors.ZaqarError`
    (usually ``BadRequest``); the caller sees it as is.
    """

    needs_metadata = Attribute(
        "Whether on_read needs the queue's metadata.  When no filter of the chain sets it, "
        "reads cost no extra store round trip and on_read gets None for the metadata.  "
        "(on_post always gets it: posting reads it anyway.)"
    )

    def on_post(messages, queue_metadata, context):
        """Called on every message post, before anything is stored, in the configured order.

        :param messages: the messages about to be stored, in the posted order: dicts
            ``{"ttl": int, "delay": int, "body": <JSON value>}``, maybe with ``"checksum"``.
        :param queue_metadata: the queue's stored metadata dict (``{}`` for a new queue).
        :param context: the :class:`~zaqar_tw.context.RequestContext` of the poster.
        :returns: the messages to store (same number, same order), or a Deferred firing
            with them.
        :raises zaqar_tw.errors.BadRequest: a message is refused; nothing is stored.  The
            description should name the message's index in the posted list (from 0), e.g.
            ``"Message 2 ..."``.
        """

    def on_read(messages, queue_metadata, context):
        """Called on every message read (list, get, bulk get, pop, claim create and get,
        queue stats, notifications), in the reverse of the configured order.

        :param messages: store message dicts (see the module docstring); never empty.
        :param queue_metadata: the queue's metadata dict, or ``None`` unless some filter of
            the chain has ``needs_metadata``.
        :param context: the :class:`~zaqar_tw.context.RequestContext` of the reader.
        :returns: the messages to return (same number, same order), or a Deferred firing
            with them.
        """

    def check_metadata(queue_metadata, context):
        """Called when a queue create (PUT) or update (PATCH) is about to store metadata.

        :param queue_metadata: the complete metadata dict that would be stored.
        :returns: ``None``, or a Deferred firing with ``None``.
        :raises zaqar_tw.errors.BadRequest: the metadata is unacceptable to this filter;
            nothing is stored.
        """


class INotifier(Interface):
    """Delivers notifications to the subscribers whose URI scheme it serves, registered in the
    ``zaqar_tw.notifiers`` entry-point group and enabled by ``[notification] notifiers``.  The
    class is built once at start-up as ``cls(reactor, config, options)``: the reactor (for
    network clients and timers), the :class:`~zaqar_tw.config.Config` and the
    ``[notifier:<name>]`` section as a dict of strings (``{}`` when absent).  The class
    declares the names that section may hold in a class attribute ``known_options`` (a
    collection of str; another name stops start-up); without it (or with ``None``) the
    section is not checked.

    The dispatcher calls :meth:`deliver` once per message and subscription, after the post
    was acknowledged; the poster never waits for it and never sees its failures.  With
    ``[notification] require_confirmation`` on, :meth:`deliver` also gets confirmation
    requests (see :mod:`zaqar_tw.notify.confirmation`).

    A notifier may also have ``check_subscriber(subscriber)``, called with the subscriber
    URI when a subscription is created or its subscriber changed: it raises
    :class:`~zaqar_tw.errors.BadRequest` to refuse it (a 400 with its text); and an
    ``async prepare_options(context, options, ttl)``, awaited when a subscription is created
    or its subscriber or options changed, returning the options to store.
    """

    schemes = Attribute(
        "The subscriber URI schemes this notifier serves, e.g. ``('http', 'https')``.  A "
        "subscription is accepted only when an enabled notifier serves its scheme."
    )

    def deliver(subscription, payload):
        """Deliver one notification.

        :param subscription: the subscription dict of
            :class:`ISubscriptionStore`, plus ``"project"``: the queue's project id, and
            ``"delivery"``: a dict about this delivery, holding at least ``"id"`` (stable
            across the retries of one delivery, for receivers to de-duplicate),
            ``"message_id"``, ``"attempt"`` (1 for the first) and ``"traceparent"`` (the
            W3C trace context of the request that caused it, or ``None``).
        :param payload: the notification, a JSON-serialisable dict: for a posted message
            ``{"body", "ttl", "queue_name", "Message_Type": "Notification"}`` (plus
            ``"delay"`` on a queue with a default delay).
        :returns: Deferred firing once the subscriber accepted it, failing (with any
            exception) when it did not.
        """

"""A real OpenStack Keystone on 127.0.0.1, for the tests (and benchmarks) of Keystone auth.

Keystone comes from PyPI (:data:`VERSION`) in a virtualenv of its own under
``~/.cache/zaqar-tw/`` so that its pins never meet ours; it is built on first use (about 20 s)
and reused, and built again when a previous build did not finish.  Each
:class:`KeystoneServer` keeps its database (SQLite), keys and logs in a directory of its own
and serves the identity API with gunicorn (one worker) on a free port.  Once started it holds
the accounts of :data:`ACCOUNTS`: two tenants, an admin and the service user ``zaqar`` that
zaqar-tw validates tokens as.

Preparing a Keystone (``keystone-manage db_sync``, ``fernet_setup``, ``credential_setup``,
``bootstrap``, then the accounts) takes about 10 s, so it is done once and its result (the
database and keys) kept beside the virtualenv (:func:`ensure_prepared`); each server starts
from a copy of it and moves the catalog's endpoints to its own port.

Only the standard library is used, and every call blocks: run them from a thread when a
reactor must keep running.
"""

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

VERSION = "30.0.0"
START_TIMEOUT = 60.0  # seconds gunicorn may take to answer (about 2 s on an idle machine)
STOP_TIMEOUT = 15.0
BUILD_TIMEOUT = 900.0
ADMIN_PASSWORD = "admin-secret"
REGION = "RegionOne"


@dataclass(frozen=True)
class Account:
    """A user of the test Keystone, with a role in one project (domain ``Default``)."""

    user: str
    password: str
    project: str
    role: str


ACCOUNTS = {
    "alice": Account("alice", "alice-secret", "zaqar-tw-a", "member"),
    "bob": Account("bob", "bob-secret", "zaqar-tw-b", "member"),
    "admin": Account("admin", ADMIN_PASSWORD, "admin", "admin"),
    "zaqar": Account("zaqar", "zaqar-secret", "service", "service"),
}


def cache_root():
    """Where built virtualenvs are kept (``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "zaqar-tw")


def venv_path():
    """The virtualenv Keystone runs from, e.g. ``~/.cache/zaqar-tw/keystone-30.0.0-py3.11``."""
    major, minor = sys.version_info[:2]
    return os.path.join(cache_root(), f"keystone-{VERSION}-py{major}.{minor}")


COMPLETE = "zaqar-tw-complete"  # written last into a finished build


@contextlib.contextmanager
def _building(path):
    """Hold the lock of ``path`` (another session building it waits), and give whether it
    is complete; a build writes :data:`COMPLETE` into it last."""
    os.makedirs(cache_root(), exist_ok=True)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield os.path.exists(os.path.join(path, COMPLETE))


def _complete(path):
    with open(os.path.join(path, COMPLETE), "w") as marker:
        marker.write(f"keystone=={VERSION}\n")


def ensure_installed():
    """Build the Keystone virtualenv unless a complete, working one is there (an interrupted
    or broken one is removed and built again).

    :returns: the virtualenv's path.
    :raises RuntimeError: the build failed (with pip's output).
    """
    path = venv_path()
    with _building(path) as complete:
        if complete and _works(path):
            return path
        shutil.rmtree(path, ignore_errors=True)
        _run([sys.executable, "-m", "venv", path], "creating the Keystone virtualenv")
        _run(
            [os.path.join(path, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
             f"keystone=={VERSION}", "gunicorn"],
            f"installing keystone=={VERSION} and gunicorn",
        )
        if not _works(path):
            raise RuntimeError(f"Keystone was installed in {path} but does not import")
        _complete(path)
    return path


# What a prepared Keystone is: its database and key repositories.
PREPARED = ("keystone.db", "fernet-keys", "fernet-receipts", "credential-keys")


def prepared_path():
    """Where a prepared Keystone is kept; its name changes with what preparing makes."""
    made_of = repr((VERSION, KEYSTONE_CONF, ADMIN_PASSWORD, sorted(ACCOUNTS.items())))
    return f"{venv_path()}-prepared-{hashlib.sha256(made_of.encode()).hexdigest()[:12]}"


def ensure_prepared():
    """Prepare a Keystone from scratch unless a complete prepared one is kept.

    :returns: the directory holding its :data:`PREPARED` files.
    """
    path = prepared_path()
    with _building(path) as complete:
        if not complete:
            shutil.rmtree(path, ignore_errors=True)
            os.makedirs(path)
            KeystoneServer(path, prepared=False).stop()
            _complete(path)
    return path


def _works(path):
    python = os.path.join(path, "bin", "python")
    try:
        subprocess.run(
            [python, "-c", "import keystone.server.wsgi, gunicorn"],
            check=True, capture_output=True, timeout=120,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _run(argv, what, timeout=BUILD_TIMEOUT, **kwargs):
    try:
        return subprocess.run(
            argv, check=True, capture_output=True, text=True, timeout=timeout, **kwargs
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"{what} failed ({exc.returncode}):\n{exc.stdout}\n{exc.stderr}"
        ) from None
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{what} took more than {timeout} s") from None


def free_port():
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


KEYSTONE_CONF = """\
[DEFAULT]
use_stderr = true

[database]
connection = sqlite:///{dir}/keystone.db

[fernet_tokens]
key_repository = {dir}/fernet-keys

[fernet_receipts]
key_repository = {dir}/fernet-receipts

[credential]
key_repository = {dir}/credential-keys

[identity]
# The fewest bcrypt rounds: password checks cost milliseconds, not a quarter second.
password_hash_rounds = 4
"""

GUNICORN_CONF = """\
bind = "127.0.0.1:{port}"
workers = 1
wsgi_app = "keystone.wsgi.api:application"
accesslog = "{dir}/access.log"
errorlog = "{dir}/gunicorn.log"
"""


def discard_prepared():
    """Remove the kept prepared Keystone (the next :func:`ensure_prepared` prepares one)."""
    path = prepared_path()
    with _building(path):
        shutil.rmtree(path, ignore_errors=True)


def _remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


class KeystoneServer:
    """One Keystone, started, then stopped and started again as often as a test needs,
    always on the same port.

    :ivar directory: its files (``keystone.conf``, the database, keys, logs).
    :ivar port: the port it serves on.
    :ivar url: ``http://127.0.0.1:<port>`` (the identity API is under ``/v3``).
    :ivar project_ids: project name to id, for the projects of :data:`ACCOUNTS`.
    :ivar user_ids: user name to id, for the users of :data:`ACCOUNTS`.
    :ivar role_ids: role name to id.
    """

    def __init__(self, directory=None, port=None, prepared=True):
        """:param prepared: start from a copy of the prepared Keystone
            (:func:`ensure_prepared`); ``False`` prepares this one from scratch."""
        self.venv = ensure_installed()
        self.directory = directory or tempfile.mkdtemp(prefix="zaqar-tw-keystone-")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.project_ids = {}
        self.user_ids = {}
        self.role_ids = {}
        self._process = None
        self._log = None
        self._write_config()
        if not prepared:
            self._prepare()
            return
        try:
            self._restore(ensure_prepared())
        except Exception:
            # A kept preparation that does not serve is prepared again, once.
            discard_prepared()
            for name in PREPARED:
                _remove(os.path.join(self.directory, name))
            self._restore(ensure_prepared())

    # Life cycle.

    def start(self):
        """Run gunicorn and wait until the identity API answers.

        :raises RuntimeError: it exited or did not answer within :data:`START_TIMEOUT`.
        """
        if self.running:
            return
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=self.conf)
        # Keystone reads its options from sys.argv inside the worker: gunicorn gets none
        # (its own come from gunicorn.conf.py in the working directory).
        self._log = open(os.path.join(self.directory, "stderr.log"), "ab")
        self._process = subprocess.Popen(
            [os.path.join(self.venv, "bin", "gunicorn")],
            cwd=self.directory, env=env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"Keystone did not start; see {self.directory}/*.log")
            time.sleep(0.1)

    def stop(self):
        """Stop gunicorn (SIGTERM to its process id, then SIGKILL if it lingers) and wait
        until its port is closed."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._log.close()

    @property
    def running(self):
        """Whether its gunicorn runs."""
        return self._process is not None and self._process.poll() is None

    def remove(self):
        """Stop it and delete its files."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _answers(self):
        try:
            with urllib.request.urlopen(self.url + "/v3", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    # Preparation.

    @property
    def conf(self):
        """The path of its ``keystone.conf``."""
        return os.path.join(self.directory, "keystone.conf")

    def _write_config(self):
        with open(self.conf, "w") as handle:
            handle.write(KEYSTONE_CONF.format(dir=self.directory))
        with open(os.path.join(self.directory, "gunicorn.conf.py"), "w") as handle:
            handle.write(GUNICORN_CONF.format(port=self.port, dir=self.directory))

    def _manage(self, *args):
        _run(
            [os.path.join(self.venv, "bin", "keystone-manage"), "--config-file", self.conf,
             *args],
            f"keystone-manage {args[0]}", timeout=300,
        )

    def _prepare(self):
        owner = ["--keystone-user", _user_name(), "--keystone-group", _group_name()]
        self._manage("db_sync")
        self._manage("fernet_setup", *owner)
        self._manage("credential_setup", *owner)
        self._manage(
            "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
            "--bootstrap-admin-url", self.url + "/v3",
            "--bootstrap-public-url", self.url + "/v3",
            "--bootstrap-internal-url", self.url + "/v3",
            "--bootstrap-region-id", REGION,
        )
        self.start()
        try:
            self._create_accounts()
        except Exception:
            self.stop()
            raise

    def _restore(self, source):
        """Start from a copy of a prepared Keystone, its endpoints moved to this port."""
        for name in PREPARED:
            origin, copy = os.path.join(source, name), os.path.join(self.directory, name)
            if os.path.isdir(origin):
                shutil.copytree(origin, copy)
            else:
                shutil.copy2(origin, copy)
        self.start()
        try:
            self._create_accounts()
            admin = self.issue_token("admin")
            for endpoint in self.call("GET", "/v3/endpoints", admin)["endpoints"]:
                self.call("PATCH", f"/v3/endpoints/{endpoint['id']}", admin,
                          {"endpoint": {"url": self.url + "/v3"}})
        except Exception:
            self.stop()
            raise

    def _create_accounts(self):
        """Create the projects, users and roles of :data:`ACCOUNTS` (those missing) and
        note their ids."""
        admin = self.issue_token("admin")
        roles = self.role_ids = {
            role["name"]: role["id"] for role in self.call("GET", "/v3/roles", admin)["roles"]
        }
        for account in ACCOUNTS.values():
            if account.project not in self.project_ids:
                found = self.call("GET", f"/v3/projects?name={account.project}", admin)
                projects = found["projects"]
                if projects:
                    self.project_ids[account.project] = projects[0]["id"]
                else:
                    created = self.call("POST", "/v3/projects", admin, {"project": {
                        "name": account.project, "domain_id": "default"}})
                    self.project_ids[account.project] = created["project"]["id"]
            found = self.call("GET", f"/v3/users?name={account.user}", admin)["users"]
            if found:
                self.user_ids[account.user] = found[0]["id"]
                continue
            created = self.call("POST", "/v3/users", admin, {"user": {
                "name": account.user, "password": account.password, "domain_id": "default"}})
            user_id = self.user_ids[account.user] = created["user"]["id"]
            self.call(
                "PUT",
                f"/v3/projects/{self.project_ids[account.project]}/users/{user_id}"
                f"/roles/{roles[account.role]}",
                admin,
            )

    def authtoken_options(self, url=None):
        """The ``[keystone_authtoken]`` options of zaqar-tw validating tokens as the service
        user ``zaqar``, with Keystone at ``url`` (default: this one's)."""
        service = ACCOUNTS["zaqar"]
        return {
            "auth_type": "password",
            "auth_url": (url or self.url) + "/v3",
            "www_authenticate_uri": "http://keystone.example.com:5000",
            "username": service.user,
            "password": service.password,
            "user_domain_name": "Default",
            "project_name": service.project,
            "project_domain_id": "default",
        }

    # The identity API.

    def new_project(self, *members, role="member"):
        """Create a project (a fresh name) and give each user of ``members`` ``role`` in it.

        :returns: the project's id.
        """
        admin = self.issue_token("admin")
        name = f"zaqar-tw-{uuid.uuid4().hex[:12]}"
        project = self.call("POST", "/v3/projects", admin, {"project": {
            "name": name, "domain_id": "default"}})["project"]["id"]
        for user in members:
            self.call(
                "PUT",
                f"/v3/projects/{project}/users/{self.user_ids[user]}"
                f"/roles/{self.role_ids[role]}",
                admin,
            )
        return project

    def project_token(self, name, project_id):
        """A token of the account ``name`` scoped to the project ``project_id``."""
        return self.issue_token(name, scope={"project": {"id": project_id}})

    def call(self, method, path, token=None, document=None, headers=None):
        """One request to the identity API.

        :returns: the decoded JSON body (``None`` when empty).
        :raises urllib.error.HTTPError: it answered an error status.
        """
        response = self.request(method, path, token, document, headers)
        return json.loads(response[2]) if response[2] else None

    def request(self, method, path, token=None, document=None, headers=None):
        """One request to the identity API.

        :returns: ``(status, headers, body bytes)``.
        :raises urllib.error.HTTPError: it answered an error status.
        """
        sent = dict(headers or {})
        data = None
        if document is not None:
            data = json.dumps(document).encode()
            sent["Content-Type"] = "application/json"
        if token is not None:
            sent["X-Auth-Token"] = token
        request = urllib.request.Request(self.url + path, data, sent, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()

    def issue_token(self, name, scope=None):
        """A token of the account ``name`` (one of :data:`ACCOUNTS`).

        :param scope: the token's ``scope`` (default: the account's project); ``{}`` asks
            for an unscoped token.
        :returns: the token.
        """
        account = ACCOUNTS[name]
        return self.password_token(account.user, account.password, scope=(
            {"project": {"name": account.project, "domain": {"id": "default"}}}
            if scope is None else scope
        ))[0]

    def password_token(self, user, password, scope):
        """Authenticate with a password.

        :returns: ``(token, token document)``.
        """
        auth = {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}}}
        if scope:
            auth["scope"] = scope
        _, headers, body = self.request("POST", "/v3/auth/tokens", document={"auth": auth})
        return headers["X-Subject-Token"], json.loads(body)["token"]

    def application_credential_token(self, name, project_id, lifetime):
        """A token that Keystone holds valid for about ``lifetime`` seconds: one of an
        application credential of ``name`` in ``project_id`` that expires then (Keystone
        ends such a token with its credential).

        :returns: ``(token, token document)``.
        """
        token = self.project_token(name, project_id)
        expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
            seconds=lifetime
        )
        credential = self.call(
            "POST", f"/v3/users/{self.user_ids[name]}/application_credentials", token,
            {"application_credential": {
                "name": f"short-{uuid.uuid4().hex[:12]}",
                "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            }},
        )["application_credential"]
        auth = {"identity": {"methods": ["application_credential"], "application_credential": {
            "id": credential["id"], "secret": credential["secret"]}}}
        _, headers, body = self.request("POST", "/v3/auth/tokens", document={"auth": auth})
        return headers["X-Subject-Token"], json.loads(body)["token"]

    def revoke(self, token):
        """Revoke a token (as its own bearer)."""
        self.request("DELETE", "/v3/auth/tokens", token, headers={"X-Subject-Token": token})


def _user_name():
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _group_name():
    import grp

    return grp.getgrgid(os.getgid()).gr_name

"""Fixtures shared by every app's tests: real Redis, RQ in burst mode, Dovecot, SMTP."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "tickets" / "tests" / "fixtures" / "eml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


@pytest.fixture
def redis_conn():
    """The real Redis test database, emptied before and after the test."""
    import django_rq

    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def run_jobs(redis_conn):
    """Run queued RQ jobs in this process (SimpleWorker, burst mode) against real Redis."""
    import django_rq
    from rq import SimpleWorker

    def run(*queue_names: str) -> SimpleWorker:
        queues = [django_rq.get_queue(name) for name in (queue_names or ("default", "nlp"))]
        worker = SimpleWorker(queues, connection=redis_conn)
        worker.work(burst=True, with_scheduler=False)
        return worker

    return run


# --- Dovecot -------------------------------------------------------------------------------

DOVECOT_CONF = """
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    user = dovecot
  }}
  unix_listener stats-writer {{
    user = dovecot
  }}
}}
"""


class Dovecot:
    """A real Dovecot IMAP server on loopback with one user, ``support``."""

    user = "support"
    password = "secret"

    def __init__(self, tls: bool = False):
        self.tls = tls
        self.port = free_port()
        self.imaps_port = free_port() if tls else 0
        self.root = Path(tempfile.mkdtemp(prefix="enigma-dovecot-"))
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Dovecot":
        root = self.root
        os.chmod(root, 0o755)
        for sub in ("run", "state", "mail"):
            (root / sub).mkdir(exist_ok=True)
        (root / "users").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        ssl_files = ""
        if self.tls:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                 "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem")],
                check=True, capture_output=True,
            )
            ssl_files = f"ssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem"
        (root / "dovecot.conf").write_text(DOVECOT_CONF.format(
            root=root, port=self.port, imaps_port=self.imaps_port, ssl="yes" if self.tls else "no", ssl_files=ssl_files))
        dovecot = pwd.getpwnam("dovecot")
        subprocess.run(["chown", "-R", f"{dovecot.pw_uid}:{dovecot.pw_gid}", str(root / "mail")], check=True)
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(root / "dovecot.conf")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port)
        except TimeoutError:
            self.stop()
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"Dovecot did not start:\n{log}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self):
        import imaplib

        client = imaplib.IMAP4("127.0.0.1", self.port)
        if self.tls:
            import ssl

            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            client.starttls(ctx)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        client = self.client()
        try:
            status, data = client.append(folder, "", None, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            assert status == "OK", data
        finally:
            client.logout()

    def settings(self, security: str = "none") -> dict:
        port = self.imaps_port if security == "ssl" else self.port
        return {"IMAP_HOST": "127.0.0.1", "IMAP_PORT": port, "IMAP_USER": self.user,
                "IMAP_PASSWORD": self.password, "IMAP_SECURITY": security, "IMAP_SSL_VERIFY": False}


def _dovecot_available() -> str | None:
    if not shutil.which("dovecot"):
        return "Dovecot is not installed (Debian: apt-get install dovecot-imapd; .ci/run does it)"
    if os.geteuid() != 0:
        return "the Dovecot test server needs root to drop privileges to the dovecot user"
    return None


def skip_or_fail(reason: str) -> None:
    """Skip a test whose real server (Dovecot, Chromium) is missing — except under
    ENIGMA_STRICT=1 (set by .ci/run, which installs them), where that is a failure."""
    if os.environ.get("ENIGMA_STRICT") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def dovecot():
    reason = _dovecot_available()
    if reason:
        skip_or_fail(reason)
    server = Dovecot().start()
    yield server
    server.stop()


@pytest.fixture
def dovecot_tls():
    reason = _dovecot_available()
    if reason:
        skip_or_fail(reason)
    server = Dovecot(tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def eml():
    """Read a hand-made fixture mail by name."""
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()
    return read


# --- SMTP (aiosmtpd) ---------------------------------------------------------------------------

class RecordingHandler:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


class SmtpServer:
    """A real SMTP server on loopback that keeps every message it accepts."""

    def __init__(self, auth_ok: bool | None = None):
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.handler = RecordingHandler()
        self.port = free_port()
        kwargs = {}
        if auth_ok is not None:
            kwargs = dict(
                authenticator=lambda server, session, envelope, mechanism, auth_data: AuthResult(success=auth_ok, handled=False),
                auth_require_tls=False,
                auth_required=True,
            )
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    @property
    def messages(self):
        import email
        import email.policy

        return [email.message_from_bytes(e.original_content, policy=email.policy.default) for e in self.handler.envelopes]

    def configure(self, settings) -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = self.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings):
    server = SmtpServer()
    server.controller.start()
    server.configure(settings)
    yield server
    server.controller.stop()


@pytest.fixture
def smtp_server_auth_fails(settings):
    server = SmtpServer(auth_ok=False)
    server.controller.start()
    server.configure(settings)
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "support", "wrong"
    yield server
    server.controller.stop()


# --- users ---------------------------------------------------------------------------------------

def make_operator(username: str = "operator", **fields):
    """A staff user in the operators group, as ops set people up. (Transactional tests flush
    the rows the migration created, hence "ensure".)"""
    from django.apps import apps
    from django.contrib.auth import get_user_model

    from tickets.roles import operators_group_ensure

    user = get_user_model().objects.create_user(username, password=fields.pop("password", "pw"), is_staff=True, **fields)
    user.groups.add(operators_group_ensure(apps))
    return user

"""End to end in a real browser (Playwright driving Debian's Chromium) against a live server:
an operator logs in, edits the draft, sends the reply (aiosmtpd receives it, an RQ worker sends
it), sees the status change; a hostile HTML mail executes nothing and loads nothing.

Playwright's sync API runs an event loop in this thread, where Django refuses ORM calls, so
database work during the browser session runs in a helper thread (``in_thread``).
"""

import http.server
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def _skip_reason() -> str | None:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (Debian: apt-get install chromium); Playwright must not download browsers"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed"
    return None


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _browser_available():
    reason = _skip_reason()
    if reason:
        skip_or_fail(reason)


def in_thread(fn, *args):
    """Run ``fn`` (ORM work) in a fresh thread without an event loop; return its result."""
    def call():
        from django.db import connection

        try:
            return fn(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(call).result(timeout=60)


def run_worker_burst(connection, *queue_names):
    """An RQ SimpleWorker in burst mode that can live outside the main thread (no signal
    handlers; job timeouts by timer instead of SIGALRM)."""
    import django_rq
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    class ThreadWorker(SimpleWorker):
        death_penalty_class = TimerDeathPenalty

        def _install_signal_handlers(self):
            pass

    worker = ThreadWorker([django_rq.get_queue(name) for name in queue_names], connection=connection)
    worker.work(burst=True, with_scheduler=False)
    return worker


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def operator(django_user_model):
    django_user_model.objects.create_user("operator", password="Пароль-оператора-1", is_staff=True, is_superuser=True)
    return "operator", "Пароль-оператора-1"


def login(page, live_server, operator):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", operator[0])
    page.fill("#id_password", operator[1])
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")


@pytest.fixture
def drafted_ticket(eml, redis_conn):
    from tickets.ingest.store import ingest_raw
    from tickets.models import Ticket

    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    Ticket.objects.filter(pk=ticket.pk).update(llm_response="Черновик ИИ", status=Ticket.Status.DRAFT_READY)
    redis_conn.flushdb()  # the processing job queued by ingestion is not this test's business
    return ticket


# ``browser`` comes last: once Playwright runs, ORM calls in this thread are refused.
def test_operator_edits_draft_and_sends_reply(live_server, operator, drafted_ticket, smtp_server, redis_conn, browser):
    from tickets.models import OutboundEmail

    ticket = drafted_ticket
    page = browser.new_page()
    login(page, live_server, operator)
    page.goto(f"{live_server.url}/admin/tickets/ticket/?queue=open")
    page.click(f"text=#{ticket.number}")
    page.wait_for_selector("#thread")
    assert "Ошибка E07" in page.inner_text("#thread")
    assert page.input_value("#id_llm_response") == "Черновик ИИ"

    page.fill("#id_llm_response", "Здравствуйте!\nОшибка E07: выполните калибровку нуля.\nС уважением, поддержка")
    page.once("dialog", lambda dialog: dialog.accept())  # «Сохранить черновик и отправить ответ клиенту?»
    page.click("#send-reply")
    page.wait_for_selector("text=Ответ поставлен в очередь на отправку")
    assert page.inner_text("#ticket-status") == "Ответ в очереди"
    assert page.inner_text("#replies .reply-status") == "В очереди"

    in_thread(run_worker_burst, redis_conn, "default")  # a real RQ worker sends it over SMTP

    page.reload()
    assert page.inner_text("#replies .reply-status") == "Отправлено"
    assert page.inner_text("#ticket-status") == "Отвечена"
    assert "выполните калибровку нуля" in page.inner_text("#thread")  # our reply joined the thread
    [mail] = smtp_server.messages
    assert mail["To"] == "petrov@teploset.ru" and "калибровку нуля" in mail.get_body(("plain",)).get_content()
    status = in_thread(lambda: OutboundEmail.objects.get(ticket_id=ticket.pk).status)
    assert status == OutboundEmail.Status.SENT


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):
        type(self).hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def tracker():
    """An HTTP server the hostile mail points at: it must never be contacted."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def hostile_ticket(tracker):
    from tickets.ingest.store import ingest_raw
    from tickets.tests.test_admin import hostile_mail

    return ingest_raw(hostile_mail(tracker.server_address[1])).ticket


def test_hostile_html_mail_executes_nothing_and_loads_nothing(live_server, operator, hostile_ticket, browser):
    ticket = hostile_ticket
    dialogs, foreign = [], []
    page = browser.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: None if request.url.startswith((live_server.url, "data:", "about:"))
            else foreign.append(request.url))
    login(page, live_server, operator)
    page.goto(f"{live_server.url}/admin/tickets/ticket/{ticket.pk}/change/")
    page.wait_for_load_state("networkidle")
    details = page.locator("#thread details")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    frame = page.frame_locator("#thread iframe")
    assert "прибор не работает" in frame.locator("body").inner_text()
    frame.locator("text=нажмите").click()  # the javascript: link lost its href
    page.wait_for_timeout(500)
    page.wait_for_load_state("networkidle")

    assert dialogs == []
    assert foreign == []
    assert _Recorder.hits == []
    assert page.evaluate("document.querySelectorAll('#thread script').length") == 0
    child = page.frames[1]
    assert child.evaluate("document.scripts.length") == 0
    assert child.evaluate("document.querySelectorAll('[onerror],[onload],iframe,object,form,svg').length") == 0

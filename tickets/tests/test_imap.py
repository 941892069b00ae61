"""poll_mailbox against a real Dovecot IMAP server on loopback."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tickets.models import MailboxState, Message, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = ["cp1251_8bit.eml", "koi8r_qp.eml", "cyrillic_attachments.eml", "html_only.eml", "autoreply.eml"]


@pytest.fixture
def imap_settings(settings, dovecot, redis_conn):
    for key, value in dovecot.settings().items():
        setattr(settings, key, value)
    settings.IMAP_MOVE_TO = ""
    return settings


def poll(*args):
    call_command("poll_mailbox", "--once", *args)


def test_poll_turns_mail_into_tickets_and_keeps_it_on_the_server(imap_settings, dovecot, eml):
    for name in FIXTURES:
        dovecot.append(eml(name))
    poll()
    assert Message.objects.count() == 5
    assert Ticket.objects.filter(is_auto=False).count() == 4
    assert set(Message.objects.values_list("source", flat=True)) == {"imap"}
    ticket = Ticket.objects.get(subject="Ошибка E07")
    assert "АНКАТ-7664Микро" in ticket.messages.get().body_text
    state = MailboxState.objects.get(folder="INBOX")
    assert state.last_uid == 5 and state.uidvalidity and state.last_success_at
    client = dovecot.client()
    client.select("INBOX")
    assert client.search(None, "ALL")[1][0].split() == [b"1", b"2", b"3", b"4", b"5"]  # still there
    assert client.search(None, "UNSEEN")[1][0].split() == [b"1", b"2", b"3", b"4", b"5"]  # not marked seen
    client.logout()


def test_poll_is_incremental(imap_settings, dovecot, eml):
    dovecot.append(eml("cp1251_8bit.eml"))
    poll()
    dovecot.append(eml("koi8r_qp.eml"))
    poll()
    poll()
    assert Message.objects.count() == 2
    assert list(Message.objects.order_by("imap_uid").values_list("imap_uid", flat=True)) == [1, 2]


def test_killed_half_way_and_restarted_makes_no_duplicates(imap_settings, dovecot, eml):
    for name in FIXTURES:
        dovecot.append(eml(name))
    poll()
    tickets_before = Ticket.objects.count()
    # A poller killed before saving its progress: the last UID was never written, and the
    # last message was stored raw but not parsed.
    MailboxState.objects.update(last_uid=2)
    last = Message.objects.get(imap_uid=5)
    Ticket.objects.filter(pk=last.ticket_id).delete()
    Message.objects.filter(pk=last.pk).update(parse_status=Message.ParseStatus.PENDING, ticket=None)
    poll()
    assert Message.objects.count() == 5
    assert Ticket.objects.count() == tickets_before
    assert Message.objects.filter(parse_status=Message.ParseStatus.PENDING).count() == 0
    assert MailboxState.objects.get().last_uid == 5


def test_uidvalidity_change_resyncs_without_duplicates(imap_settings, dovecot, eml):
    client = dovecot.client()
    client.create("Support")
    client.logout()
    dovecot.append(eml("cp1251_8bit.eml"), folder="Support")
    dovecot.append(eml("koi8r_qp.eml"), folder="Support")
    poll("--folder", "Support")
    old_validity = MailboxState.objects.get(folder="Support").uidvalidity
    # The folder is recreated on the server: new UIDVALIDITY, UIDs start again.
    client = dovecot.client()
    client.delete("Support")
    client.create("Support")
    client.logout()
    for name in ("koi8r_qp.eml", "cp1251_8bit.eml", "html_only.eml"):
        dovecot.append(eml(name), folder="Support")
    poll("--folder", "Support")
    state = MailboxState.objects.get(folder="Support")
    assert state.uidvalidity != old_validity and state.last_uid == 3
    assert Message.objects.count() == 3 and Ticket.objects.count() == 3


def test_processed_mail_can_be_moved_to_a_folder(imap_settings, dovecot, eml):
    client = dovecot.client()
    client.create("Processed")
    client.logout()
    dovecot.append(eml("cp1251_8bit.eml"))
    dovecot.append(eml("koi8r_qp.eml"))
    poll("--move-to", "Processed")
    assert Ticket.objects.count() == 2
    client = dovecot.client()
    assert client.select("INBOX")[1] == [b"0"]
    assert client.select("Processed")[1] == [b"2"]
    client.logout()


def test_unparseable_mail_over_imap_is_kept_and_the_run_goes_on(imap_settings, dovecot, eml):
    dovecot.append(eml("garbage.eml"))
    dovecot.append(eml("cp1251_8bit.eml"))
    poll()
    assert Message.objects.filter(parse_status=Message.ParseStatus.FAILED).count() == 1
    assert Ticket.objects.count() == 1


def test_wrong_password_fails_clearly_and_is_recorded(imap_settings):
    imap_settings.IMAP_PASSWORD = "wrong"
    with pytest.raises(CommandError, match="polling failed"):
        poll()
    assert "AUTHENTICATIONFAILED" in MailboxState.objects.get().last_error or MailboxState.objects.get().last_error


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls(settings, dovecot_tls, redis_conn, eml, security):
    for key, value in dovecot_tls.settings(security=security).items():
        setattr(settings, key, value)
    dovecot_tls.append(eml("cp1251_8bit.eml"))
    poll()
    assert Ticket.objects.count() == 1
    # Dovecot ends the login line with "TLS" for encrypted sessions: every login was TLS.
    logins = [line for line in (dovecot_tls.root / "dovecot.log").read_text().splitlines() if "Login: user=<support>" in line]
    assert logins and all(", TLS" in line for line in logins)


def test_certificate_is_verified_by_default(settings, dovecot_tls, redis_conn):
    for key, value in dovecot_tls.settings(security="ssl").items():
        setattr(settings, key, value)
    settings.IMAP_SSL_VERIFY = True  # the default: the test server's certificate is self-signed
    with pytest.raises(CommandError):
        poll()
    assert "CERTIFICATE_VERIFY_FAILED" in MailboxState.objects.get().last_error

"""Admin: a staff member gets a one-time code / deep link and sees only their own link."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from notifications.models import TelegramLink
from notifications.services import link_chat
from notifications.tests.conftest import make_staff

pytestmark = pytest.mark.django_db


def test_connect_page_shows_a_one_time_code_and_deep_link(client, settings):
    settings.TELEGRAM_BOT_USERNAME = "enigma_support_bot"
    user = make_staff()
    client.force_login(user)
    page = client.get(reverse("admin:notifications_telegramlink_connect"))
    assert page.status_code == 200
    link = TelegramLink.objects.get(user=user)
    html = page.content.decode()
    assert f"https://t.me/enigma_support_bot?start={link.code}" in html and f"/start {link.code}" in html
    assert "Код одноразовый" in html

    # A new code replaces the old one.
    old = link.code
    client.get(reverse("admin:notifications_telegramlink_connect"))
    assert link_chat(old, chat_id=1, telegram_user_id=1).ok is False


def test_staff_see_their_own_link_only(client):
    me, other = make_staff("me"), make_staff("other")
    TelegramLink.objects.create(user=other, telegram_username="other_tg")
    mine = TelegramLink.objects.create(user=me, telegram_username="me_tg")
    client.force_login(me)
    listing = client.get(reverse("admin:notifications_telegramlink_changelist"))
    assert listing.status_code == 200
    assert "me_tg" in listing.content.decode() and "other_tg" not in listing.content.decode()
    assert "Привязать мой Telegram" in listing.content.decode()
    response = client.post(reverse("admin:notifications_telegramlink_change", args=[mine.pk]),
                           {"preference": "negative_or_urgent", "is_active": "on"})
    assert response.status_code == 302
    assert TelegramLink.objects.get(pk=mine.pk).preference == "negative_or_urgent"
    other_link = TelegramLink.objects.get(user=other)
    assert client.get(reverse("admin:notifications_telegramlink_change", args=[other_link.pk])).status_code in (302, 403, 404)


def test_expired_code_and_inactive_user_are_refused():
    from datetime import timedelta

    from django.utils import timezone

    from notifications.services import link_code_issue

    user = make_staff()
    link = link_code_issue(user)
    TelegramLink.objects.filter(pk=link.pk).update(code_expires_at=timezone.now() - timedelta(seconds=1))
    assert not link_chat(link.code, chat_id=5, telegram_user_id=5).ok
    link = link_code_issue(user)
    user.is_staff = False
    user.save()
    result = link_chat(link.code, chat_id=5, telegram_user_id=5)
    assert not result.ok and "только для сотрудников" in result.text


def test_run_bot_needs_a_token(settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    with pytest.raises(CommandError, match="TELEGRAM_BOT_TOKEN"):
        call_command("run_bot")

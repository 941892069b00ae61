"""The real bot (aiogram long polling + Redis listener) against the fake Bot API server."""

import pytest
from django.db import transaction

from notifications.cards import REFUSAL_TEXT
from notifications.models import TelegramLink, TelegramMessage
from notifications.services import link_code_issue
from notifications.tests.conftest import link_chat, make_staff, make_ticket, wait_until
from notifications.tests.telegram_server import (
    button_texts,
    buttons,
    callback_update,
    message_update,
)
from tickets.models import OutboundEmail, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = 424242
STRANGER = 999001
DRAFT = "Здравствуйте, Сергей Иванович!\n\nОшибка E07 означает загрязнение сенсора. Выполните калибровку.\n\nС уважением, служба поддержки"


def to_chat(chat_id):
    return lambda r: int(r.params.get("chat_id", 0)) == chat_id


def card_for(bot, number, chat_id=CHAT, after=0):
    return bot.fake.wait_for("sendMessage", lambda r: to_chat(chat_id)(r) and f"#{number}</b>" in r.params["text"],
                             after=after)


def card_id(ticket, chat_id=CHAT) -> int:
    """The stored id of the ticket's card in the chat (recorded right after sendMessage returns)."""
    return wait_until(lambda: TelegramMessage.objects.filter(ticket=ticket, chat_id=chat_id)
                      .values_list("message_id", flat=True).first())


def test_start_with_code_links_the_chat_and_strangers_are_refused(bot):
    user = make_staff()
    code = link_code_issue(user).code

    bot.fake.push_update(message_update(CHAT, "/start not-a-valid-code"))
    bot.fake.wait_for("sendMessage", lambda r: to_chat(CHAT)(r) and "не найден или истёк" in r.params["text"])
    assert not TelegramLink.objects.get(user=user).is_linked

    bot.fake.push_update(message_update(CHAT, f"/start {code}"))
    bot.fake.wait_for("sendMessage", lambda r: to_chat(CHAT)(r) and "Telegram привязан" in r.params["text"])
    link = TelegramLink.objects.get(user=user)
    assert link.chat_id == CHAT and link.telegram_user_id == CHAT and link.is_linked
    assert link.code is None  # one-time

    # The same code again, from another chat: refused.
    bot.fake.push_update(message_update(STRANGER, f"/start {code}"))
    bot.fake.wait_for("sendMessage", lambda r: to_chat(STRANGER)(r) and "не найден или истёк" in r.params["text"])

    # A stranger's commands and button presses: a polite refusal, nothing done.
    ticket = make_ticket()
    mark = bot.fake.mark()
    bot.fake.push_update(message_update(STRANGER, "/tickets"))
    refusal = bot.fake.wait_for("sendMessage", to_chat(STRANGER), after=mark)
    assert refusal.params["text"] == REFUSAL_TEXT and "только для сотрудников службы поддержки" in REFUSAL_TEXT
    bot.fake.push_update(callback_update(STRANGER, f"take:{ticket.pk}", message_id=1))
    answer = bot.fake.wait_for("answerCallbackQuery", after=mark)
    assert "только сотрудникам" in answer.params["text"] and answer.params["show_alert"] is True
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_saved_ticket_reaches_the_linked_chat_with_buttons(bot):
    user = make_staff()
    link_chat(user, CHAT)
    other = make_staff("no-telegram")  # not linked: gets nothing
    with transaction.atomic():
        ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY,
                             summary="Петров Сергей пишет: прибор ИГМ-10 показывает E07, телефон +7 912 345-67-89.",
                             full_name="Петров Сергей Иванович", phone="+7 912 345-67-89")
        ticket.llm_response = DRAFT
    card = card_for(bot, ticket.number)
    text = card.params["text"]
    assert "🔴" in text and "ИГМ-10" in text and "Черновик ответа готов" in text
    assert "Петров" not in text and "345-67-89" not in text and "[ТЕЛЕФОН]" in text  # masked summary
    assert button_texts(card) == ["Открыть", "Взять в работу", "Показать черновик", "Отправить ответ"]
    open_button = buttons(card)[0]
    assert open_button["url"].endswith(f"/admin/tickets/ticket/{ticket.pk}/change/")
    wait_until(lambda: TelegramMessage.objects.filter(ticket=ticket, chat_id=CHAT).count() == 1)
    assert not bot.fake.calls("sendMessage")[1:]  # exactly one message
    assert other.pk  # nothing to assert for him: no chat


def test_take_button_assigns_and_edits_the_card_in_place(bot):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket()
    card = card_for(bot, ticket.number)
    message_id = card_id(ticket)

    bot.fake.push_update(callback_update(CHAT, f"take:{ticket.pk}", message_id=message_id))
    answer = bot.fake.wait_for("answerCallbackQuery")
    assert f"#{ticket.number} теперь ваша" in answer.params["text"]
    ticket.refresh_from_db()
    assert ticket.assignee == user
    edit = bot.fake.wait_for("editMessageText", lambda r: int(r.params["message_id"]) == message_id)
    assert "Исполнитель: Анна Смирнова (вы)" in edit.params["text"]
    assert "Взять в работу" not in button_texts(edit)
    assert "Взять в работу" in button_texts(card)


def test_reply_button_asks_then_queues_through_the_reply_service(bot):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY)
    card_for(bot, ticket.number)
    message_id = card_id(ticket)

    bot.fake.push_update(callback_update(CHAT, f"reply:{ticket.pk}", message_id=message_id))
    confirm = bot.fake.wait_for("sendMessage", lambda r: "Отправить клиенту ответ" in r.params["text"])
    assert "Ошибка E07 означает" in confirm.params["text"]
    assert button_texts(confirm) == ["✅ Да, отправить", "Отмена"]
    assert not OutboundEmail.objects.exists()  # nothing happens before the confirmation

    confirm_id = 100 + len(bot.fake.calls("sendMessage")) - 1
    yes = next(b["callback_data"] for b in buttons(confirm) if b["text"].startswith("✅"))
    assert yes.startswith(f"reply_ok:{ticket.pk}.")  # carries the shown draft's fingerprint
    bot.fake.push_update(callback_update(CHAT, yes, message_id=confirm_id))
    bot.fake.wait_for("editMessageText", lambda r: "поставлен в очередь" in r.params["text"])
    outbound = OutboundEmail.objects.get(ticket=ticket)
    assert outbound.requested_by == user and outbound.status == OutboundEmail.Status.QUEUED
    assert outbound.body == DRAFT.strip() and outbound.to_address == "petrov@teploset.ru"
    ticket.refresh_from_db()
    assert ticket.processed and ticket.status == Ticket.Status.REPLY_QUEUED
    edit = bot.fake.wait_for("editMessageText", lambda r: int(r.params["message_id"]) == message_id)
    assert "Ответ в очереди" in edit.params["text"] and "Отправить ответ" not in button_texts(edit)

    # Pressing the old "send" again: refused (a reply is queued), nothing new queued.
    bot.fake.push_update(callback_update(CHAT, yes, message_id=confirm_id))
    bot.fake.wait_for("editMessageText", lambda r: "нельзя" in r.params["text"])
    assert OutboundEmail.objects.count() == 1


def test_confirmation_refuses_a_draft_changed_after_it_was_shown(bot):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY)
    card_for(bot, ticket.number)
    bot.fake.push_update(callback_update(CHAT, f"reply:{ticket.pk}", message_id=card_id(ticket)))
    confirm = bot.fake.wait_for("sendMessage", lambda r: "Отправить клиенту ответ" in r.params["text"])
    yes = next(b["callback_data"] for b in buttons(confirm) if b["text"].startswith("✅"))
    Ticket.objects.filter(pk=ticket.pk).update(llm_response="Новый черновик, которого оператор не видел")
    bot.fake.push_update(callback_update(CHAT, yes, message_id=100 + len(bot.fake.calls("sendMessage")) - 1))
    bot.fake.wait_for("editMessageText", lambda r: "Черновик изменился" in r.params["text"])
    assert not OutboundEmail.objects.exists()


def test_reply_sent_and_failed_edit_the_card(bot, run_jobs, smtp_server_auth_fails):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY, assignee=user)
    card_for(bot, ticket.number)
    message_id = card_id(ticket)
    from tickets.services import reply_request

    reply_request(ticket.pk, user=user)
    run_jobs("default")  # SMTP authentication fails: a permanent failure
    assert OutboundEmail.objects.get().status == OutboundEmail.Status.FAILED
    edit = bot.fake.wait_for("editMessageText", lambda r: "Ответ не отправлен" in r.params["text"])
    assert int(edit.params["message_id"]) == message_id and "Отправить ответ" in button_texts(edit)
    alert = bot.fake.wait_for("sendMessage", lambda r: "не отправлен клиенту" in r.params["text"])
    assert alert.params["reply_parameters"]["message_id"] == message_id


def test_reply_sent_edits_the_card(bot, run_jobs, smtp_server):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY)
    card_for(bot, ticket.number)
    from tickets.services import reply_request

    reply_request(ticket.pk, user=user)
    run_jobs("default")
    assert len(smtp_server.messages) == 1
    edit = bot.fake.wait_for("editMessageText", lambda r: "Ответ отправлен клиенту" in r.params["text"])
    assert "Отправить ответ" not in button_texts(edit)


def test_draft_button_shows_the_draft(bot):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY)
    card_for(bot, ticket.number)
    bot.fake.push_update(callback_update(CHAT, f"draft:{ticket.pk}", message_id=100))
    shown = bot.fake.wait_for("sendMessage", lambda r: "Черновик ответа по заявке" in r.params["text"])
    assert "Ошибка E07 означает загрязнение сенсора" in shown.params["text"]


def test_preference_negative_or_urgent_filters_cards(bot):
    user = make_staff()
    link_chat(user, CHAT, preference=TelegramLink.Preference.NEGATIVE_OR_URGENT)
    calm = make_ticket(sentiment="neutral", priority="normal")
    angry = make_ticket(sentiment="negative", priority="high")
    card_for(bot, angry.number)
    assert not [r for r in bot.fake.calls("sendMessage") if f"#{calm.number}</b>" in r.params["text"]]
    # Once NLP finds the calm one urgent after all, it is announced.
    calm.priority = "urgent"
    calm.status = Ticket.Status.PROCESSING
    calm.save(update_fields=["priority", "status"])
    card_for(bot, calm.number)


def test_commands(bot):
    user = make_staff()
    link_chat(user, CHAT)
    mine = make_ticket(assignee=user, device_type="СГОЭС")
    free = make_ticket(device_type="Сигнал-03")
    make_ticket(status=Ticket.Status.CLOSED, device_type="Закрытый-прибор")
    card_for(bot, free.number)

    mark = bot.fake.mark()
    bot.fake.push_update(message_update(CHAT, "/tickets"))
    listing = bot.fake.wait_for("sendMessage", lambda r: "Мои открытые заявки" in r.params["text"], after=mark)
    text = listing.params["text"]
    assert f"/ticket_{mine.number}" in text and f"/ticket_{free.number}" in text and "Закрытый-прибор" not in text
    assert text.index(f"/ticket_{mine.number}") < text.index("Без исполнителя") < text.index(f"/ticket_{free.number}")

    mark = bot.fake.mark()
    bot.fake.push_update(message_update(CHAT, f"/ticket_{mine.number}"))
    card = bot.fake.wait_for("sendMessage", lambda r: f"#{mine.number}</b>" in r.params["text"], after=mark)
    assert "(вы)" in card.params["text"]
    bot.fake.push_update(message_update(CHAT, "/ticket 99999"))
    bot.fake.wait_for("sendMessage", lambda r: "Заявки #99999 нет" in r.params["text"], after=mark)

    bot.fake.push_update(message_update(CHAT, "/stats"))
    stats = bot.fake.wait_for("sendMessage", lambda r: "Сегодня" in r.params["text"], after=mark)
    assert "Новых заявок: 3" in stats.params["text"] and "у вас: 1" in stats.params["text"]

    bot.fake.push_update(message_update(CHAT, "/help"))
    bot.fake.wait_for("sendMessage", lambda r: "/stats — статистика за сегодня" in r.params["text"], after=mark)

    bot.fake.push_update(message_update(CHAT, "/settings"))
    settings_card = bot.fake.wait_for("sendMessage", lambda r: "Какие заявки присылать" in r.params["text"], after=mark)
    assert button_texts(settings_card) == ["✅ Все заявки", "Только негативные и срочные"]
    bot.fake.push_update(callback_update(CHAT, "pref:negative_or_urgent", message_id=1))
    bot.fake.wait_for("editMessageText", lambda r: "✅ Только негативные и срочные" in str(r.params), after=mark)
    assert TelegramLink.objects.get(user=user).preference == TelegramLink.Preference.NEGATIVE_OR_URGENT


def test_survives_flood_limits_and_server_errors(bot):
    user = make_staff()
    link_chat(user, CHAT)
    bot.fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
    bot.fake.fail_next("sendMessage", 502, "Bad Gateway")
    ticket = make_ticket()
    card_id(ticket)
    assert len(bot.fake.calls("sendMessage")) == 3  # two failures, then delivered

    # An edit Telegram calls "not modified" is fine; a chat that blocked the bot is switched off.
    bot.fake.fail_next("editMessageText", 403, "Forbidden: bot was blocked by the user")
    Ticket.objects.filter(pk=ticket.pk).update()  # no-op: no event
    t = Ticket.objects.get(pk=ticket.pk)
    t.status = Ticket.Status.PROCESSING
    t.save(update_fields=["status"])
    bot.fake.wait_for("editMessageText")
    wait_until(lambda: not TelegramLink.objects.get(user=user).is_active)
    link = TelegramLink.objects.get(user=user)
    assert not link.is_active and "заблокирован" in link.last_error


def test_bot_gets_events_again_after_redis_restart(transactional_db, redis_conn, events_channel, settings):
    from notifications.tests.conftest import BotHarness
    from notifications.tests.test_listener import RedisProcess

    server = RedisProcess().start()
    settings.REDIS_URL = server.url  # the publisher (events.publish) and the bot's listener
    harness = BotHarness(redis_url=server.url).start()
    try:
        user = make_staff()
        link_chat(user, CHAT)
        first = make_ticket()
        card_for(harness, first.number)

        server.kill()
        down = make_ticket()  # Redis down: the ticket is saved all the same, the event is lost
        assert Ticket.objects.filter(pk=down.pk).exists()
        server.start()
        wait_until(lambda: harness.app.listener.connections == 2, timeout=10, message="listener reconnect")

        after = make_ticket()
        card_for(harness, after.number)
        assert harness.app.listener.connections == 2
    finally:
        harness.stop()
        server.kill()


def test_group_chats_get_nothing_even_from_linked_staff(bot):
    user = make_staff()
    link_chat(user, CHAT)
    ticket = make_ticket(llm_response=DRAFT, status=Ticket.Status.DRAFT_READY)
    group = -100123
    bot.fake.push_update(message_update(CHAT, f"/ticket {ticket.number}", chat_id=group, chat_type="supergroup"))
    bot.fake.push_update(message_update(CHAT, "/help"))  # a marker processed after the group message
    bot.fake.wait_for("sendMessage", lambda r: to_chat(CHAT)(r))
    assert not [r for r in bot.fake.calls("sendMessage") if to_chat(group)(r)]

"""Parsing real-world mail from bytes: one test per case the ingestion must handle."""

import pytest

from tickets.ingest.mime import decode_bytes, derive_message_id, header_message_id, parse_mail
from tickets.ingest.threading import normalize_subject, ticket_number_from_subject

RUSSIAN_BODY_START = "Здравствуйте!\n\nГазоанализатор АНКАТ-7664Микро"


@pytest.mark.parametrize("name", ["cp1251_8bit.eml", "cp1251_base64.eml", "koi8r_qp.eml"])
def test_russian_bodies_in_8bit_base64_and_quoted_printable(eml, name):
    mail = parse_mail(eml(name))
    assert mail.text.startswith(RUSSIAN_BODY_START)
    assert "котельной" in mail.text
    assert mail.notes == []  # declared charset was right: no repair needed


def test_encoded_subject_and_name_split_over_several_words(eml):
    mail = parse_mail(eml("encoded_words.eml"))
    assert mail.subject == "Не работает газоанализатор СГГ-20Микро"
    assert mail.from_name == "Смирнова Анна"
    assert mail.from_address == "smirnova@gorgaz.ru"


def test_subjects_in_legacy_charsets(eml):
    assert parse_mail(eml("cp1251_8bit.eml")).subject == "Ошибка E07"
    assert parse_mail(eml("koi8r_qp.eml")).subject == "Поверка"


def test_raw_8bit_cp1251_subject_is_detected(eml):
    assert parse_mail(eml("raw_8bit_subject.eml")).subject == "Срочно: не работает ИГС-98"


def test_cyrillic_attachment_names_rfc2231_and_rfc2047(eml):
    mail = parse_mail(eml("cyrillic_attachments.eml"))
    names = [a.filename for a in mail.attachments]
    assert names == ["Акт поверки №5.pdf", "Фото прибора.jpg"]
    assert mail.attachments[0].payload.startswith(b"%PDF-1.4")
    assert mail.text == "Высылаю акт и фото."


def test_wrongly_declared_us_ascii_holding_cp1251_is_detected(eml):
    mail = parse_mail(eml("wrong_charset.eml"))
    assert mail.text.startswith(RUSSIAN_BODY_START)
    assert any("cp1251" in note for note in mail.notes)


def test_html_only_mail_becomes_readable_text(eml):
    mail = parse_mail(eml("html_only.eml"))
    assert "Датчик Сигнал-4 зав.№ 8812 выдаёт ложную тревогу." in mail.text
    assert "<p>" not in mail.text and "color:red" not in mail.text
    assert "пункт один" in mail.text
    assert "<b>Сигнал-4</b>" in mail.html


def test_alternative_prefers_plain_and_keeps_html(eml):
    mail = parse_mail(eml("alternative.eml"))
    assert mail.text == "Простой текст письма."
    assert "<b>письма</b>" in mail.html


def test_forwarded_message_text_is_included_and_kept_as_attachment(eml):
    mail = parse_mail(eml("forwarded.eml"))
    assert mail.text.startswith("Коллеги, пересылаю письмо от заказчика.")
    assert "Пересланное сообщение" in mail.text
    assert "Датчик ДАХ-М срабатывает без причины" in mail.text  # inner cp1251 body decoded
    assert "От: Иванов <ivanov@zavod.ru>" in mail.text
    assert [a.content_type for a in mail.attachments] == ["message/rfc822"]


def test_inline_image_with_content_id(eml):
    mail = parse_mail(eml("inline_image.eml"))
    [image] = mail.attachments
    assert (image.filename, image.is_inline, image.content_id) == ("screen.png", True, "screen1@example.ru")
    assert image.payload.startswith(b"\x89PNG")
    assert "На экране ошибка" in mail.text


def test_missing_date_and_message_id_get_a_stable_derived_id(eml):
    raw = eml("no_date_no_msgid.eml")
    mail = parse_mail(raw)
    assert mail.date is None
    assert mail.message_id == derive_message_id(raw) == header_message_id(raw)
    # The same bytes with other line endings (IMAP delivers CRLF) give the same id.
    assert derive_message_id(raw.replace(b"\n", b"\r\n")) == mail.message_id
    assert derive_message_id(raw + b"x") != mail.message_id


def test_broken_base64_padding_still_decodes(eml):
    mail = parse_mail(eml("broken_base64.eml"))
    assert mail.text.startswith("Сломанное заполнение base64")


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("autoreply.eml", "auto-submitted: auto-replied"),
        ("bounce.eml", "delivery-report"),
        ("bulk.eml", "precedence: bulk"),
    ],
)
def test_automatic_mail_is_recognised(eml, name, reason):
    mail = parse_mail(eml(name))
    assert mail.is_auto
    assert mail.auto_reason == reason


def test_bounce_keeps_the_delivery_status_text(eml):
    mail = parse_mail(eml("bounce.eml"))
    assert "Delivery failed" in mail.text
    assert mail.attachments == []


def test_human_mail_is_not_automatic(eml):
    assert not parse_mail(eml("cp1251_8bit.eml")).is_auto


def test_from_mailer_daemon_alone_marks_a_bounce():
    raw = b"From: MAILER-DAEMON@example.org\nSubject: failure\n\nreturned"
    assert parse_mail(raw).auto_reason.startswith("from: mailer-daemon")


def test_garbage_is_refused_with_a_clear_error(eml):
    with pytest.raises(ValueError, match="не письмо"):
        parse_mail(eml("garbage.eml"))


def test_junk_before_headers_is_skipped():
    raw = b"---- Original message ----\nFrom: a@example.org\nSubject: Hi\n\nbody text\n"
    mail = parse_mail(raw)
    assert (mail.from_address, mail.subject, mail.text) == ("a@example.org", "Hi", "body text")
    assert any("мусора" in note for note in mail.notes)


def test_nul_bytes_are_removed(eml):
    assert parse_mail(eml("nul_bytes.eml")).text == "Текстс нулевым байтом"


def test_decode_bytes_prefers_declared_charset_when_it_fits():
    text, note = decode_bytes("Привет".encode("koi8-r"), "koi8-r")
    assert (text, note) == ("Привет", "")


def test_decode_bytes_tells_cp1251_from_koi8r_without_a_declaration():
    sentence = "Прибор показывает неверные значения концентрации метана"
    assert decode_bytes(sentence.encode("cp1251"))[0] == sentence
    assert decode_bytes(sentence.encode("koi8-r"))[0] == sentence
    assert decode_bytes(sentence.encode("utf-8"), "windows-1251")[0] == sentence


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Ошибка E07", "Ошибка E07"),
        ("RE[2]: Ошибка E07", "Ошибка E07"),
        ("Ответ: Re: Fwd: Ошибка E07", "Ошибка E07"),
        ("Пересл: FW: Ошибка E07", "Ошибка E07"),
        ("Re: [#42] Ошибка E07", "Ошибка E07"),
        ("Отв: Re[3]: поверка", "поверка"),
        ("Regarding the device", "Regarding the device"),
    ],
)
def test_reply_prefixes_and_ticket_tag_are_stripped(subject, expected):
    assert normalize_subject(subject) == expected


def test_ticket_tag_is_found_anywhere_in_the_subject():
    assert ticket_number_from_subject("Re: [#42] Ошибка") == 42
    assert ticket_number_from_subject("Ошибка #42") is None

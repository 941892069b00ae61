from nlp.service import analyze


def masked(text):
    return analyze(text).masked_text


def test_typed_placeholders_for_personal_data():
    text = ("Петров Сергей Иванович, паспорт 45 12 345678, ИНН 771234567890, СНИЛС 123-456-789 01.\n"
            "Адрес: 680000, г. Хабаровск, ул. Фрунзе, д. 49, кв. 3.\n"
            "Тел. +7 916 123-45-67, petrov@mail.ru")
    out = masked(text)
    for placeholder in ("[ФИО]", "[ПАСПОРТ]", "[ИНН]", "[СНИЛС]", "[АДРЕС]", "[ТЕЛЕФОН]", "[EMAIL]"):
        assert placeholder in out, out
    for secret in ("Петров", "345678", "771234567890", "123-456-789", "Фрунзе", "123-45-67", "petrov@"):
        assert secret not in out, out


def test_device_and_serial_are_kept():
    out = masked("АНКАТ-7664Микро зав. № 89161234567 не работает. Иванов Иван, 8 916 000-11-22")
    assert "АНКАТ-7664Микро" in out and "89161234567" in out
    assert "000-11-22" not in out and "Иванов" not in out


def test_every_phone_like_number_is_masked_even_without_context():
    out = masked("звоните 8 800 555 35 35 или +49 30 123456")
    assert "555" not in out and "123456" not in out

import pytest

from nlp.entities import extract, find_phones
from nlp.service import analyze


def ents(text):
    return extract(text).entities


@pytest.mark.parametrize("text, person", [
    ("Прошу перезвонить Петрову Сергею Ивановичу, тел. 8 916 123-45-67.", "Петров Сергей Иванович"),
    ("Ответ просьба направить Смирновой Анне Викторовне.", "Смирнова Анна Викторовна"),
    ("с уважением,\nиванов сергей петрович", "Иванов Сергей Петрович"),
    ("С УВАЖЕНИЕМ,\nКОВАЛЁВА НАТАЛЬЯ ИГОРЕВНА\nООО «ГАЗ»", "Ковалёва Наталья Игоревна"),
    ("Прибор сломался.\nИванов И.И.", "Иванов И.И."),
    ("Прибор сломался.\nИ.И. Иванов", "Иванов И.И."),
    ("С уважением, Смирнова Анна", "Смирнова Анна"),
])
def test_person_in_nominative(text, person):
    assert ents(text).person == person


def test_addressee_and_staff_are_not_the_customer():
    text = "Уважаемый Игорь Петрович!\nСпасибо инженеру Сергею Волкову.\n\nКузнецов Андрей\n+7 916 000-11-22"
    assert ents(text).person == "Кузнецов Андрей"


def test_phones_are_e164_with_extensions_apart():
    text = "тел. 8 (495) 987-12-34 доб. 214, моб. +7 916 123 45 67; т. +7(343)3102030, вн. 204"
    phones = [(p.number, p.ext) for p in ents(text).phones]
    assert phones == [("+74959871234", "214"), ("+79161234567", None), ("+73433102030", "204")]


@pytest.mark.parametrize("text", [
    "ИНН 7712345678, КПП 771201001",
    "по договору № 45/2023 от 14.03.2023",
    "заказ 4951234567 оплачен",
    "накладная 1123456789",
    "СГГ-20Микро зав. № 2210045123",
    "s/n 79161234567",
    "счёт № 1187 от 02.10.2024",
])
def test_numbers_that_are_not_phones(text):
    assert ents(text).phones == []


def test_company_facility_serial_device():
    e = ents("На котельной №3 МУП «Теплосеть» сигнализатор сгг 20 микро (зав.№ 55012) пищит.")
    assert e.company == "МУП «Теплосеть»"
    assert e.facility == "котельная №3"
    assert e.device_type == "СГГ-20Микро"
    assert e.serial == "55012"


@pytest.mark.parametrize("text, serial", [
    ("Хоббит-Т № 3344 получили", "3344"),
    ("s/n: SG20M-004512.", "SG20M-004512"),
    ("серийный номер 7664.18.0921", "7664.18.0921"),
    ("ЗАВ 2020512 ТРЕТИЙ РАЗ", "2020512"),
    ("заводской номер 0412-1832, срок", "0412-1832"),
])
def test_serials(text, serial):
    assert ents(text).serial == serial


def test_quoted_history_is_not_analysed():
    text = ("Спасибо, всё получили.\nАнна Титова\n\n> 12.11.2024, Сервис пишет:\n> Звоните +7 (812) 300-10-20\n"
            "> Мастер Смирнов Олег")
    result = analyze(text).to_dict()
    assert result["entities"]["phones"] == []
    assert result["entities"]["person"] == "Анна Титова"
    assert "812" not in result["masked_text"]


def test_phone_matcher_skips_protected_spans():
    assert find_phones("зав. № 89161234567", protected=[(8, 19)]) == []


def test_a_list_of_serials_is_all_recognised():
    text = "Просим поверить три газоанализатора ДАХ-М (заводские номера 4411, 4412 и 4413)."
    assert ents(text).serial == "4411"
    result = analyze(text + " Звоните: +7 495 123-45-67")
    for serial in ("4411", "4412", "4413"):  # serials are kept for the AI, never masked as phones
        assert serial in result.masked_text


@pytest.mark.parametrize(("text", "company"), [
    ("лебедев виктор, ооо строймонолит, 89161112233", "ООО «Строймонолит»"),
    ("пишет муп водоканал про котельную", "МУП «Водоканал»"),
])
def test_legal_form_in_lowercase(text, company):
    assert ents(text).company == company


def test_lowercase_words_like_ao_are_not_companies():
    assert ents("ао и ип — это просто буквы в тексте про прибор").company == ""


@pytest.mark.parametrize(("text", "device"), [
    ("Сигнал-4М зав. № 4М-1020 не включается", "Сигнал-4М"),
    ("стационарный газоскан 200 пищит", "ГАЗОСКАН-200"),
    ("ЭКОТЕСТ-3 показывает E2", "ЭКОТЕСТ-3"),
    ("у ГАЗОСКАН-300 треснул корпус", "ГАЗОСКАН-300"),  # a family model we do not list yet
])
def test_devices_of_the_knowledge_base(text, device):
    assert ents(text).device_type == device


def test_an_alarm_signal_is_not_a_device():
    assert ents("звуковой сигнал 90 дБ не слышен").device_type == ""

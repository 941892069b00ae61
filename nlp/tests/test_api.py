import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("nlp.tests.urls")]
URL = "/api/v1/nlp/analyze/"


def client_for(is_staff):
    client = APIClient()
    if is_staff is not None:
        user = get_user_model().objects.create_user(f"u{is_staff}", password="x", is_staff=is_staff)
        client.force_authenticate(user)
    return client


@pytest.mark.parametrize("is_staff", [None, False])
def test_staff_only(is_staff):
    response = client_for(is_staff).post(URL, {"text": "привет"}, format="json")
    assert response.status_code in (401, 403)


def test_analyze():
    response = client_for(True).post(URL, {"text": "СГГ-20Микро зав. № 4512 пищит!!! Кузнецов Андрей, 8 912 000 11 22"},
                                     format="json")
    assert response.status_code == 200
    data = response.json()
    assert data["entities"]["serial"] == "4512"
    assert data["entities"]["phones"] == [{"number": "+79120001122", "ext": None}]
    assert "[ТЕЛЕФОН]" in data["masked_text"] and data["sentiment"]["backend"]


def test_missing_text_is_400():
    assert client_for(True).post(URL, {}, format="json").status_code == 400

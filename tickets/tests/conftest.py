import pytest
from rest_framework.test import APIClient

from conftest import make_operator


@pytest.fixture
def staff(db):
    """A support engineer: staff, in the operators group (not a superuser)."""
    return make_operator(first_name="Анна")


@pytest.fixture
def api(staff):
    client = APIClient()
    client.force_authenticate(staff)
    return client

"""/ws/tickets/ through the project's ASGI application and Channels' WebsocketCommunicator."""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token

from notifications.tests.conftest import make_staff, make_ticket

pytestmark = pytest.mark.django_db(transaction=True)


def application():
    from enigma_site.asgi import application

    return application


def session_cookie(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    return [(b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()), (b"origin", b"http://localhost")]


def test_staff_session_receives_ticket_events(redis_conn, events_channel):
    headers = session_cookie(make_staff())

    async def scenario():
        communicator = WebsocketCommunicator(application(), "/ws/tickets/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        ticket = await database_sync_to_async(make_ticket)()  # post-save → on_commit → group
        event = await communicator.receive_json_from(timeout=5)
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return ticket, event, pong

    ticket, event, pong = async_to_sync(scenario)()
    assert event["event"] == "ticket.created" and event["ticket_id"] == ticket.pk
    assert "full_name" not in event and pong == {"type": "pong"}


@pytest.mark.parametrize("who", ["anonymous", "customer"])
def test_anonymous_and_non_staff_are_rejected(redis_conn, who):
    headers = [(b"origin", b"http://localhost")]
    if who == "customer":
        headers = session_cookie(get_user_model().objects.create_user("customer", password="pw"))

    async def scenario():
        communicator = WebsocketCommunicator(application(), "/ws/tickets/", headers=headers)
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected and code == 4403


def test_drf_token_as_subprotocol_or_query(redis_conn, events_channel):
    staff_token = Token.objects.create(user=make_staff()).key
    plain_token = Token.objects.create(user=get_user_model().objects.create_user("plain", password="pw")).key

    async def connect(path, subprotocols=None):
        communicator = WebsocketCommunicator(application(), path, headers=[(b"origin", b"http://localhost")],
                                             subprotocols=subprotocols)
        result = await communicator.connect()
        await communicator.disconnect()
        return result

    async def scenario():
        return await asyncio.gather(
            connect("/ws/tickets/", ["token", staff_token]),
            connect(f"/ws/tickets/?token={staff_token}"),
            connect("/ws/tickets/", ["token", plain_token]),
            connect("/ws/tickets/?token=wrong"),
        )

    by_subprotocol, by_query, non_staff, wrong = async_to_sync(scenario)()
    assert by_subprotocol == (True, "token") and by_query[0] is True
    assert non_staff == (False, 4403) and wrong == (False, 4403)

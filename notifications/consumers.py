"""Websocket stream of ticket events for staff: ``/ws/tickets/``.

Authentication: the Django session (``AuthMiddlewareStack`` in ``asgi.py``) or a DRF token, sent
as the subprotocol pair ``["token", "<key>"]`` (browsers cannot set headers on websockets) or,
for tools, as ``?token=<key>``. Only active staff are accepted; others are closed with 4403.
"""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from notifications.events import TICKETS_GROUP

FORBIDDEN = 4403


def _token_user(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token else None


class TicketEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        subprotocol = None
        if not (user and user.is_authenticated):
            key, subprotocol = self._token()
            user = await database_sync_to_async(_token_user)(key) if key else None
        if not (user and user.is_active and user.is_staff):
            await self.close(code=FORBIDDEN)
            return
        self.scope["user"] = user
        await self.channel_layer.group_add(TICKETS_GROUP, self.channel_name)
        await self.accept(subprotocol=subprotocol)

    def _token(self) -> tuple[str, str | None]:
        protocols = self.scope.get("subprotocols") or []
        if len(protocols) >= 2 and protocols[0] == "token":
            return protocols[1], "token"
        query = parse_qs((self.scope.get("query_string") or b"").decode("latin-1"))
        return (query.get("token") or [""])[0], None

    async def disconnect(self, code):
        await self.channel_layer.group_discard(TICKETS_GROUP, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def ticket_event(self, message):
        await self.send_json(message["event"])

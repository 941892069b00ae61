"""Websocket stream of ticket events for staff."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

TICKETS_GROUP = "tickets"


class TicketEventsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if not (user and user.is_authenticated and user.is_staff):
            await self.close(code=4403)
            return
        await self.channel_layer.group_add(TICKETS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(TICKETS_GROUP, self.channel_name)

    async def ticket_event(self, message):
        await self.send_json(message["event"])

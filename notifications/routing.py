from django.urls import path

from notifications.consumers import TicketEventsConsumer

websocket_urlpatterns = [path("ws/tickets/", TicketEventsConsumer.as_asgi())]

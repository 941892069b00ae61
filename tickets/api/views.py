from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tickets.api.serializers import MessageSerializer, TicketSerializer
from tickets.models import Ticket


class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    serializer_class = TicketSerializer
    queryset = Ticket.objects.order_by("-created_at")
    http_method_names = ["get", "patch", "post", "head", "options"]

    @extend_schema(responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"])
    def messages(self, request, pk=None):
        ticket = self.get_object()
        messages = ticket.messages.prefetch_related("attachments").order_by("received_at", "id")
        return Response(MessageSerializer(messages, many=True).data)

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tickets import services
from tickets.api.serializers import (
    MessageSerializer,
    OutboundEmailSerializer,
    ReplyAcceptedSerializer,
    ReplyConflictSerializer,
    ReplyRequestSerializer,
    TicketSerializer,
)
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

    @extend_schema(
        summary="Отправить ответ клиенту",
        description=(
            "Sets `processed=true`, queues one reply with the text of `llm_response` (or `text`, which replaces "
            "it first) and returns at once; an RQ job sends it over SMTP. A second request while a reply is "
            "queued, being sent or sent answers 409 unless `resend` is true."
        ),
        request=ReplyRequestSerializer,
        responses={
            202: ReplyAcceptedSerializer,
            400: OpenApiResponse(description="Empty text, no or invalid customer address, or an automatic ticket."),
            404: OpenApiResponse(description="No such ticket."),
            409: ReplyConflictSerializer,
        },
    )
    @action(detail=True, methods=["post"])
    def reply(self, request, pk=None):
        ticket = get_object_or_404(Ticket.objects.only("pk"), pk=pk)
        serializer = ReplyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            result = services.reply_request(
                ticket.pk, user=request.user, text=serializer.validated_data.get("text"),
                resend=serializer.validated_data["resend"],
            )
        except services.ReplyConflict as exc:
            return Response({"detail": str(exc), "outbound": OutboundEmailSerializer(exc.existing).data},
                            status=status.HTTP_409_CONFLICT)
        except services.ReplyError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {"outbound_id": result.outbound.pk, "status": result.outbound.status, "job_id": result.job_id},
            status=status.HTTP_202_ACCEPTED,
        )

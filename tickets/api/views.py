"""The REST API for the SvelteKit front (staff only: session or token auth).

Reads go through ``tickets.selectors``; writes with side effects through ``tickets.services``.
"""

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.views import APIView

from tickets import selectors, services
from tickets.api.filters import ContactFilter, TicketFilter
from tickets.api.permissions import StaffModelPermissions
from tickets.api.serializers import (
    AttachmentSerializer,
    ContactDetailSerializer,
    ContactSerializer,
    DraftQueuedSerializer,
    MessageSerializer,
    OutboundEmailSerializer,
    ReplyAcceptedSerializer,
    ReplyConflictSerializer,
    ReplyRequestSerializer,
    StatsQuerySerializer,
    StatsSerializer,
    TicketDetailSerializer,
    TicketListSerializer,
    TicketSerializer,
)
from tickets.models import Attachment, Contact, Ticket


@extend_schema_view(
    list=extend_schema(summary="Список заявок", description="Filters, full-text search (`q`), ordering, pagination."),
    retrieve=extend_schema(summary="Заявка с перепиской, вложениями, ответами и историей обработки"),
    partial_update=extend_schema(
        summary="Изменить заявку",
        description="Editable: `llm_response`, `status`, `assignee`, `priority`. Setting `status=closed` closes the "
                    "ticket (stamps `closed_at`).",
        request=TicketSerializer, responses=TicketDetailSerializer,
    ),
)
class TicketViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    queryset = Ticket.objects.all()
    permission_classes = [StaffModelPermissions]
    http_method_names = ["get", "patch", "post", "head", "options"]
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = TicketFilter
    ordering_fields = ["number", "created_at", "updated_at", "priority", "status", "sentiment", "first_response_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        if self.action == "list":
            return selectors.ticket_list()
        if self.action == "retrieve":
            return selectors.ticket_detail()
        return Ticket.objects.all()

    def get_serializer_class(self):
        if self.action == "list":
            return TicketListSerializer
        if self.action == "retrieve":
            return TicketDetailSerializer
        return TicketSerializer

    def perform_update(self, serializer):
        ticket = serializer.instance
        closing = serializer.validated_data.get("status") == Ticket.Status.CLOSED and ticket.status != Ticket.Status.CLOSED
        if closing:
            serializer.validated_data.pop("status")
        serializer.save()
        if closing:
            services.ticket_close(ticket.pk)

    def update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        super().update(request, *args, **kwargs)
        ticket = selectors.ticket_detail().get(pk=kwargs["pk"])
        return Response(TicketDetailSerializer(ticket, context=self.get_serializer_context()).data)

    @extend_schema(summary="Письма заявки (старые сначала)", responses=MessageSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def messages(self, request, pk=None):
        ticket = self.get_object()
        messages = ticket.messages.defer("raw").prefetch_related("attachments").order_by("received_at", "id")
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
    @action(detail=True, methods=["post"], filter_backends=[])
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

    @extend_schema(summary="Перегенерировать черновик", request=None, responses={202: DraftQueuedSerializer})
    @action(detail=True, methods=["post"], url_path="regenerate-draft", filter_backends=[])
    def regenerate_draft(self, request, pk=None):
        ticket = get_object_or_404(Ticket.objects.only("pk"), pk=pk)
        return Response({"job_id": services.ticket_regenerate_draft(ticket.pk)}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="Контакты клиентов"),
    retrieve=extend_schema(summary="Контакт и его заявки (последние 100)"),
)
class ContactViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Contact.objects.all()
    permission_classes = [StaffModelPermissions]
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = ContactFilter
    ordering_fields = ["email", "name", "company", "created_at", "ticket_count"]
    ordering = ["email"]

    def get_queryset(self):
        return selectors.contact_list(Contact.objects.all())

    def get_serializer_class(self):
        return ContactDetailSerializer if self.action == "retrieve" else ContactSerializer


class AttachmentViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Attachment.objects.all()
    permission_classes = [StaffModelPermissions]
    serializer_class = AttachmentSerializer

    @extend_schema(summary="Скачать вложение", responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        from tickets.admin import attachment_response

        return attachment_response(self.get_object(), inline=request.query_params.get("inline") == "1")


class StatsView(APIView):
    queryset = Ticket.objects.none()  # for the permission check: analytics need "view ticket"
    permission_classes = [StaffModelPermissions]
    @extend_schema(
        summary="Аналитика за период",
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD); default: 29 days before `to`."),
            OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, inclusive; default: today."),
        ],
        responses={200: StatsSerializer, 400: OpenApiResponse(description="Bad dates.")},
    )
    def get(self, request):
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stats = selectors.ticket_stats(selectors.DateRange(query.validated_data["date_from"], query.validated_data["date_to"]))
        return Response(StatsSerializer(stats).data)

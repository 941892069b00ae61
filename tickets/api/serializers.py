import functools

from django.contrib.auth import get_user_model
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tickets import selectors
from tickets.models import (
    Attachment,
    Contact,
    Message,
    OutboundEmail,
    ProcessingRun,
    Ticket,
)


class UserBriefSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "name"]

    def get_name(self, obj) -> str:
        return obj.get_full_name() or obj.get_username()


class ContactBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Contact
        fields = ["id", "email", "name", "company", "phone"]


class AttachmentSerializer(serializers.ModelSerializer):
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "sha256", "is_inline", "content_id", "download_url"]

    def get_download_url(self, obj) -> str:
        return reverse("attachment-download", args=[obj.pk])


class MessageSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id", "direction", "message_id", "in_reply_to", "from_address", "from_name", "to", "cc",
            "subject", "sent_at", "received_at", "body_text", "is_auto", "auto_reason", "parse_status",
            "parse_error", "attachments",
        ]


class MessageDetailSerializer(MessageSerializer):
    body_html_safe = serializers.SerializerMethodField(
        help_text="The mail's HTML sanitised with nh3 (no scripts, handlers, frames or remote resources; "
                  "cid: images embedded). Still render it in a sandboxed iframe.")

    class Meta(MessageSerializer.Meta):
        fields = MessageSerializer.Meta.fields + ["body_html_safe"]

    def get_body_html_safe(self, obj) -> str:
        if not obj.body_html:
            return ""
        return selectors.mail_html_safe(obj.body_html, selectors.inline_image_data_urls(obj))


class OutboundEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundEmail
        fields = ["id", "status", "to_address", "subject", "message_id", "attempts", "last_error", "created_at", "sent_at"]


class OutboundEmailDetailSerializer(OutboundEmailSerializer):
    requested_by = UserBriefSerializer(read_only=True)

    class Meta(OutboundEmailSerializer.Meta):
        fields = OutboundEmailSerializer.Meta.fields + ["body", "requested_by"]


class ProcessingRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProcessingRun
        fields = ["id", "stage", "backend", "ok", "latency_ms", "error", "result", "created_at"]


class SourceSerializer(serializers.Serializer):
    n = serializers.IntegerField(required=False)
    document = serializers.CharField(required=False, allow_blank=True)
    file = serializers.CharField(required=False, allow_blank=True)
    page = serializers.IntegerField(required=False, allow_null=True)
    score = serializers.FloatField(required=False, allow_null=True)
    cited = serializers.BooleanField(required=False)


@functools.lru_cache(maxsize=8)
def _choice_labels_for(language: str | None) -> dict:
    return {"status": {k: str(v) for k, v in Ticket.Status.choices},
            "sentiment": {k: str(v) for k, v in Ticket.Sentiment.choices},
            "priority": {k: str(v) for k, v in Ticket.Priority.choices}}


def _choice_labels() -> dict:
    """Choice labels in the active language (``get_FOO_display`` re-translates on every call)."""
    from django.utils.translation import get_language

    return _choice_labels_for(get_language())


class TicketListSerializer(serializers.ModelSerializer):
    """What a list row shows; the heavy text columns are left to the detail view."""

    assignee = UserBriefSerializer(read_only=True)
    contact = ContactBriefSerializer(read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    sentiment_display = serializers.CharField(source="get_sentiment_display", read_only=True)
    priority_display = serializers.CharField(source="get_priority_display", read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id", "number", "subject", "status", "status_display", "processed", "is_auto", "full_name", "phone",
            "email", "company", "device_type", "device_serial", "sentiment", "sentiment_display", "sentiment_score",
            "priority", "priority_display", "intent", "assignee", "contact", "created_at", "updated_at",
            "first_response_at", "closed_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance):
        # The list is the hot path (50 rows a page): build rows directly instead of running
        # ~30 field objects per row. The declared fields above still define the schema, and
        # test_api checks that both give the same output.
        from rest_framework.fields import DateTimeField

        dt = DateTimeField().to_representation
        labels = _choice_labels()
        assignee, contact = instance.assignee, instance.contact
        return {
            "id": instance.pk, "number": instance.number, "subject": instance.subject, "status": instance.status,
            "status_display": labels["status"].get(instance.status, instance.status), "processed": instance.processed,
            "is_auto": instance.is_auto, "full_name": instance.full_name, "phone": instance.phone,
            "email": instance.email, "company": instance.company, "device_type": instance.device_type,
            "device_serial": instance.device_serial, "sentiment": instance.sentiment,
            "sentiment_display": labels["sentiment"].get(instance.sentiment, instance.sentiment), "sentiment_score": instance.sentiment_score,
            "priority": instance.priority, "priority_display": labels["priority"].get(instance.priority, instance.priority),
            "intent": instance.intent,
            "assignee": None if assignee is None else {
                "id": assignee.pk, "username": assignee.get_username(),
                "name": assignee.get_full_name() or assignee.get_username()},
            "contact": None if contact is None else {
                "id": contact.pk, "email": contact.email, "name": contact.name, "company": contact.company,
                "phone": contact.phone},
            "created_at": dt(instance.created_at) if instance.created_at else None,
            "updated_at": dt(instance.updated_at) if instance.updated_at else None,
            "first_response_at": dt(instance.first_response_at) if instance.first_response_at else None,
            "closed_at": dt(instance.closed_at) if instance.closed_at else None,
        }

    def slow_representation(self, instance):
        """The generic DRF path (kept for the equivalence test)."""
        return super().to_representation(instance)


class TicketSerializer(serializers.ModelSerializer):
    """One ticket, and what staff may change on it (``llm_response``, status, assignee, priority)."""

    assignee = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True), allow_null=True, required=False,
        help_text="Id of an active staff user, or null to unassign.",
    )
    llm_sources = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id", "number", "subject", "status", "processed", "llm_response", "llm_sources", "draft_kind",
            "is_auto", "full_name", "phone", "email", "company", "device_type", "device_serial",
            "sentiment", "sentiment_score", "sentiment_backend", "summary", "priority", "intent",
            "intent_confidence", "processing_error", "assignee", "contact", "created_at", "updated_at",
            "first_response_at", "closed_at",
        ]
        read_only_fields = [f for f in fields if f not in ("llm_response", "status", "assignee", "priority")]

    @extend_schema_field(SourceSerializer(many=True))
    def get_llm_sources(self, obj):
        return obj.llm_sources if isinstance(obj.llm_sources, list) else []


class TicketDetailSerializer(TicketSerializer):
    assignee_detail = UserBriefSerializer(source="assignee", read_only=True)
    contact_detail = ContactBriefSerializer(source="contact", read_only=True)
    messages = MessageDetailSerializer(many=True, read_only=True)
    outbound_emails = OutboundEmailDetailSerializer(many=True, read_only=True)
    processing_runs = ProcessingRunSerializer(many=True, read_only=True)

    class Meta(TicketSerializer.Meta):
        fields = TicketSerializer.Meta.fields + [
            "assignee_detail", "contact_detail", "masked_text", "messages", "outbound_emails", "processing_runs",
        ]
        read_only_fields = [f for f in fields if f not in ("llm_response", "status", "assignee", "priority")]


class ContactSerializer(serializers.ModelSerializer):
    ticket_count = serializers.IntegerField(read_only=True)
    open_ticket_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "email", "name", "company", "phone", "ticket_count", "open_ticket_count", "created_at", "updated_at"]
        read_only_fields = fields


class ContactDetailSerializer(ContactSerializer):
    tickets = serializers.SerializerMethodField()

    class Meta(ContactSerializer.Meta):
        fields = ContactSerializer.Meta.fields + ["tickets"]

    @extend_schema_field(TicketListSerializer(many=True))
    def get_tickets(self, obj):
        tickets = selectors.ticket_list(obj.tickets.order_by("-created_at"))[:100]
        return TicketListSerializer(tickets, many=True).data


class StatsQuerySerializer(serializers.Serializer):
    # "from" is a Python keyword: the fields are renamed in to_internal_value.
    date_from = serializers.DateField(required=False, help_text="First day (YYYY-MM-DD), default: 29 days before `to`.")
    date_to = serializers.DateField(required=False, help_text="Last day, inclusive (YYYY-MM-DD), default: today.")

    def to_internal_value(self, data):
        data = {"date_from": data.get("from") or None, "date_to": data.get("to") or None}
        return super().to_internal_value({k: v for k, v in data.items() if v is not None})

    def validate(self, attrs):
        import datetime as dt

        from django.utils import timezone

        end = attrs.get("date_to") or timezone.localdate()
        start = attrs.get("date_from") or end - dt.timedelta(days=29)
        if start > end:
            raise serializers.ValidationError({"from": "Начало периода позже его конца."})
        if (end - start).days > 366:
            raise serializers.ValidationError({"from": "Период не длиннее 367 дней."})
        return {"date_from": start, "date_to": end}


class DayCountSerializer(serializers.Serializer):
    date = serializers.DateField()
    count = serializers.IntegerField()


class DeviceCountSerializer(serializers.Serializer):
    device_type = serializers.CharField()
    count = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    date_from = serializers.DateField(source="from")
    date_to = serializers.DateField(source="to")
    total = serializers.IntegerField()
    per_day = DayCountSerializer(many=True)
    sentiment = serializers.DictField(child=serializers.IntegerField(), help_text="negative/neutral/positive/unknown")
    top_device_types = DeviceCountSerializer(many=True)
    by_status = serializers.DictField(child=serializers.IntegerField())
    open_backlog = serializers.IntegerField(help_text="Tickets waiting for staff now (any creation date).")
    answered = serializers.IntegerField()
    median_first_response_seconds = serializers.FloatField(allow_null=True)
    p90_first_response_seconds = serializers.FloatField(allow_null=True)
    replies = serializers.DictField(child=serializers.IntegerField(), help_text="queued/sending/sent/failed")


class ReplyRequestSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                 help_text="Replaces llm_response before sending (staff edits).")
    resend = serializers.BooleanField(default=False, help_text="Send again although a reply was already sent/queued.")


class ReplyAcceptedSerializer(serializers.Serializer):
    outbound_id = serializers.IntegerField()
    status = serializers.CharField()
    job_id = serializers.CharField(allow_null=True)


class ReplyConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    outbound = OutboundEmailSerializer()


class DraftQueuedSerializer(serializers.Serializer):
    job_id = serializers.CharField(allow_null=True)

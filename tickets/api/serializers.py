from rest_framework import serializers

from tickets.models import Attachment, Message, OutboundEmail, Ticket


class AttachmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "filename", "content_type", "size", "sha256", "is_inline", "content_id"]


class MessageSerializer(serializers.ModelSerializer):
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id", "direction", "message_id", "in_reply_to", "from_address", "from_name", "to", "cc",
            "subject", "sent_at", "received_at", "body_text", "is_auto", "auto_reason", "parse_status",
            "parse_error", "attachments",
        ]


class TicketSerializer(serializers.ModelSerializer):
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


class ReplyRequestSerializer(serializers.Serializer):
    text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                 help_text="Replaces llm_response before sending (staff edits).")
    resend = serializers.BooleanField(default=False, help_text="Send again although a reply was already sent/queued.")


class ReplyAcceptedSerializer(serializers.Serializer):
    outbound_id = serializers.IntegerField()
    status = serializers.CharField()
    job_id = serializers.CharField(allow_null=True)


class OutboundEmailSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutboundEmail
        fields = ["id", "status", "to_address", "subject", "message_id", "attempts", "last_error", "created_at", "sent_at"]


class ReplyConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    outbound = OutboundEmailSerializer()

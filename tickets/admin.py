"""Admin for tickets and mail. The full operator console comes with its own issue."""

from django.contrib import admin, messages
from django.http import HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.shortcuts import get_object_or_404

from tickets.models import Attachment, Contact, MailboxState, Message, OutboundEmail, ProcessingRun, Ticket


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["direction", "from_address", "subject", "sent_at", "body_text", "is_auto", "parse_status", "raw_link"]
    readonly_fields = fields
    ordering = ["received_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Исходное письмо")
    def raw_link(self, obj):
        return format_html('<a href="{}">скачать .eml</a>', reverse("admin:tickets_message_raw", args=[obj.pk]))


class ProcessingRunInline(admin.TabularInline):
    model = ProcessingRun
    extra = 0
    can_delete = False
    fields = ["created_at", "stage", "backend", "ok", "latency_ms", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ["number", "subject", "customer", "device_type", "sentiment", "status", "priority", "assignee", "created_at"]
    list_display_links = ["number", "subject"]
    list_filter = ["status", "sentiment", "priority", "intent", "processed", "is_auto", "assignee", "created_at"]
    search_fields = ["=number", "subject", "full_name", "email", "phone", "company", "device_serial", "messages__body_text"]
    list_select_related = ["contact", "assignee"]
    readonly_fields = [
        "number", "contact", "full_name", "phone", "email", "company", "device_type", "device_serial",
        "sentiment", "sentiment_score", "sentiment_backend", "summary", "intent", "intent_confidence",
        "masked_text", "processing_error", "created_at", "updated_at", "first_response_at", "closed_at",
    ]
    inlines = [MessageInline, ProcessingRunInline]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["send_reply"]

    @admin.action(description="Отправить ответ (текст черновика)")
    def send_reply(self, request, queryset):
        from tickets import services

        sent = 0
        for pk, number in queryset.values_list("pk", "number"):
            try:
                services.reply_request(pk, user=request.user)
                sent += 1
            except services.ReplyError as exc:
                self.message_user(request, f"#{number}: {exc}", messages.ERROR)
        if sent:
            self.message_user(request, f"Ответов поставлено в очередь: {sent}.", messages.SUCCESS)

    @admin.display(description="Клиент")
    def customer(self, obj):
        name = obj.full_name or (obj.contact.name if obj.contact else "")
        return f"{name} ({obj.company})" if obj.company else name or obj.email


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "direction", "from_address", "subject", "ticket", "is_auto", "parse_status"]
    list_filter = ["direction", "parse_status", "is_auto", "source", "received_at"]
    search_fields = ["message_id", "from_address", "subject", "body_text"]
    list_select_related = ["ticket"]
    exclude = ["raw"]
    readonly_fields = [f.name for f in Message._meta.fields if f.name != "raw"] + ["raw_link"]
    show_full_result_count = False

    @admin.display(description="Исходное письмо")
    def raw_link(self, obj):
        return format_html('<a href="{}">скачать .eml</a>', reverse("admin:tickets_message_raw", args=[obj.pk]))

    def get_urls(self):
        return [
            path("<int:pk>/raw/", self.admin_site.admin_view(self.raw_view), name="tickets_message_raw"),
        ] + super().get_urls()

    def raw_view(self, request, pk):
        message = get_object_or_404(Message, pk=pk)
        if not self.has_view_permission(request, message):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        response = HttpResponse(bytes(message.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
        return response


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "is_inline", "message"]
    search_fields = ["filename", "sha256"]
    list_select_related = ["message"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "company", "phone", "created_at"]
    search_fields = ["email", "name", "company", "phone"]


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["id", "ticket", "to_address", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["status"]
    list_select_related = ["ticket"]
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]


@admin.register(MailboxState)
class MailboxStateAdmin(admin.ModelAdmin):
    list_display = ["__str__", "uidvalidity", "last_uid", "last_success_at", "last_error"]

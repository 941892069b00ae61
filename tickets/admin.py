"""The operator console: Django admin, in Russian.

Views stay thin: reads go through ``tickets.selectors``, every workflow (reply, assign,
close, regenerate a draft) through ``tickets.services``.
"""

from __future__ import annotations

import datetime as dt
import mimetypes

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Value, When
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from tickets import selectors, services
from tickets.models import (
    Attachment,
    Contact,
    MailboxState,
    Message,
    OutboundEmail,
    ProcessingRun,
    Ticket,
)

SENTIMENT_COLORS = {
    Ticket.Sentiment.NEGATIVE: "#c62828",
    Ticket.Sentiment.NEUTRAL: "#607d8b",
    Ticket.Sentiment.POSITIVE: "#2e7d32",
}
STATUS_COLORS = {
    Ticket.Status.NEW: "#1565c0",
    Ticket.Status.PROCESSING: "#6a1b9a",
    Ticket.Status.DRAFT_READY: "#ef6c00",
    Ticket.Status.REPLY_QUEUED: "#00838f",
    Ticket.Status.ANSWERED: "#2e7d32",
    Ticket.Status.CUSTOMER_REPLIED: "#c62828",
    Ticket.Status.CLOSED: "#757575",
}
PRIORITY_COLORS = {
    Ticket.Priority.LOW: "#90a4ae",
    Ticket.Priority.NORMAL: "#607d8b",
    Ticket.Priority.HIGH: "#ef6c00",
    Ticket.Priority.URGENT: "#b71c1c",
}
OUTBOUND_COLORS = {
    OutboundEmail.Status.QUEUED: "#00838f",
    OutboundEmail.Status.SENDING: "#6a1b9a",
    OutboundEmail.Status.SENT: "#2e7d32",
    OutboundEmail.Status.FAILED: "#c62828",
}
PRIORITY_RANK = {Ticket.Priority.LOW: 0, Ticket.Priority.NORMAL: 1, Ticket.Priority.HIGH: 2, Ticket.Priority.URGENT: 3}


def badge(label: str, color: str):
    return format_html('<span class="enigma-badge" style="background:{}">{}</span>', color, label)


def attachment_url(attachment_id: int) -> str:
    return reverse("admin:tickets_attachment_download", args=[attachment_id])


# --- filters -------------------------------------------------------------------------------------

class IntentFilter(admin.SimpleListFilter):
    title = "тема обращения"
    parameter_name = "intent"

    def lookups(self, request, model_admin):
        return list(selectors.INTENT_LABELS.items())

    def queryset(self, request, queryset):
        return queryset.filter(intent=self.value()) if self.value() else queryset


class DeviceTypeFilter(admin.SimpleListFilter):
    title = "тип прибора"
    parameter_name = "device_type"

    def lookups(self, request, model_admin):
        from django.db.models import Count

        rows = (Ticket.objects.exclude(device_type="").order_by().values("device_type")
                .annotate(n=Count("id")).order_by("-n")[:25])
        return [(row["device_type"], f"{row['device_type']} ({row['n']})") for row in rows]

    def queryset(self, request, queryset):
        return queryset.filter(device_type=self.value()) if self.value() else queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "исполнитель"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        users = get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")
        return [("me", "Мои"), ("none", "Не назначены")] + [(str(u.pk), u.get_full_name() or u.get_username()) for u in users]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "me":
            return queryset.filter(assignee=request.user)
        if value == "none":
            return queryset.filter(assignee__isnull=True)
        if value and value.isdigit():
            return queryset.filter(assignee_id=int(value))
        return queryset


class OpenFilter(admin.SimpleListFilter):
    title = "очередь"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [("open", "Ждут нас"), ("waiting", "Ждут клиента")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(status__in=selectors.OPEN_STATUSES)
        if self.value() == "waiting":
            return queryset.filter(status__in=(Ticket.Status.REPLY_QUEUED, Ticket.Status.ANSWERED))
        return queryset


# --- tickets -------------------------------------------------------------------------------------

class TicketForm(forms.ModelForm):
    class Meta:
        model = Ticket
        fields = ["llm_response", "status", "priority", "assignee"]
        widgets = {"llm_response": forms.Textarea(attrs={"rows": 16, "class": "enigma-draft", "spellcheck": "true"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "assignee" in self.fields:
            self.fields["assignee"].queryset = get_user_model().objects.filter(is_staff=True, is_active=True)
        # The page carries the values it was opened with, so "changed" means "changed by the
        # operator", not "differs from what a worker wrote since" (see TicketAdmin.save_model).
        for field in self.fields.values():
            field.show_hidden_initial = True


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    form = TicketForm
    change_form_template = "admin/tickets/ticket/change_form.html"
    change_list_template = "admin/tickets/ticket/change_list.html"
    list_display = [
        "number_link", "subject_short", "customer", "device", "sentiment_badge", "status_badge",
        "priority_badge", "assignee", "age",
    ]
    list_display_links = None
    list_filter = [
        OpenFilter, "status", "sentiment", IntentFilter, DeviceTypeFilter, "priority", "processed",
        AssigneeFilter, "is_auto", ("created_at", admin.DateFieldListFilter),
    ]
    search_fields = ["subject"]  # shows the search box; the search itself is get_search_results
    search_help_text = "Тема, текст писем, ФИО, организация, № заявки, заводской номер, телефон, e-mail"
    list_per_page = 50
    show_full_result_count = False
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    fieldsets = [("Ответ клиенту", {"fields": ["llm_response"]}), ("Заявка", {"fields": ["status", "priority", "assignee"]})]
    actions = ["assign_to_me", "close_tickets", "regenerate_drafts", "send_reply"]

    # -- list --

    def get_queryset(self, request):
        return selectors.ticket_list(super().get_queryset(request)).annotate(
            priority_rank=Case(*(When(priority=p, then=Value(r)) for p, r in PRIORITY_RANK.items()),
                               default=Value(1), output_field=IntegerField()),
        )

    def get_search_results(self, request, queryset, search_term):
        return selectors.ticket_search(queryset, search_term), False

    def has_add_permission(self, request):
        return False  # tickets come from mail

    @admin.display(description="№", ordering="number")
    def number_link(self, obj):
        return format_html('<a href="{}"><b>#{}</b></a>', reverse("admin:tickets_ticket_change", args=[obj.pk]), obj.number)

    @admin.display(description="Тема", ordering="subject")
    def subject_short(self, obj):
        subject = obj.subject or "(без темы)"
        if len(subject) > 80:
            subject = subject[:79] + "…"
        return format_html('<a href="{}">{}</a>', reverse("admin:tickets_ticket_change", args=[obj.pk]), subject)

    @admin.display(description="Клиент")
    def customer(self, obj):
        name = obj.full_name or (obj.contact.name if obj.contact else "") or obj.email or (obj.contact.email if obj.contact else "")
        if obj.company:
            return format_html("{}<br><small>{}</small>", name, obj.company)
        return name

    @admin.display(description="Прибор", ordering="device_type")
    def device(self, obj):
        if obj.device_serial:
            return format_html("{}<br><small>зав. № {}</small>", obj.device_type or "—", obj.device_serial)
        return obj.device_type or "—"

    @admin.display(description="Тональность", ordering="sentiment")
    def sentiment_badge(self, obj):
        if not obj.sentiment:
            return "—"
        return badge(obj.get_sentiment_display(), SENTIMENT_COLORS.get(obj.sentiment, "#607d8b"))

    @admin.display(description="Статус", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), STATUS_COLORS.get(obj.status, "#607d8b"))

    @admin.display(description="Приоритет", ordering="priority_rank")
    def priority_badge(self, obj):
        return badge(obj.get_priority_display(), PRIORITY_COLORS.get(obj.priority, "#607d8b"))

    @admin.display(description="Возраст", ordering="created_at")
    def age(self, obj):
        return format_html('<span title="{}">{}</span>',
                           timezone.localtime(obj.created_at).strftime("%d.%m.%Y %H:%M"),
                           timesince(obj.created_at, depth=1))

    # -- bulk actions --

    @admin.action(description="Назначить на меня", permissions=["change"])
    def assign_to_me(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            services.ticket_assign(pk, request.user)
        self.message_user(request, f"Назначено на вас: {len(ids)}.", messages.SUCCESS)

    @admin.action(description="Закрыть", permissions=["change"])
    def close_tickets(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            services.ticket_close(pk)
        self.message_user(request, f"Закрыто заявок: {len(ids)}.", messages.SUCCESS)

    @admin.action(description="Перегенерировать черновики", permissions=["change"])
    def regenerate_drafts(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for pk in ids:
            services.ticket_regenerate_draft(pk)
        self.message_user(request, f"Черновики поставлены в очередь: {len(ids)}. Правки в них будут заменены.",
                          messages.SUCCESS)

    @admin.action(description="Отправить ответ (текст черновика)", permissions=["change"])
    def send_reply(self, request, queryset):
        sent = 0
        for pk, number in queryset.values_list("pk", "number"):
            try:
                services.reply_request(pk, user=request.user)
                sent += 1
            except services.ReplyError as exc:
                self.message_user(request, f"#{number}: {exc}", messages.ERROR)
        if sent:
            self.message_user(request, f"Ответов поставлено в очередь: {sent}.", messages.SUCCESS)

    # -- ticket page --

    def get_object(self, request, object_id, from_field=None):
        # Memoised per request: change_view and the admin's own view both ask for it.
        cache = request.__dict__.setdefault("_enigma_tickets", {})
        if object_id not in cache:
            try:
                cache[object_id] = selectors.ticket_detail().get(pk=int(object_id))
            except (Ticket.DoesNotExist, ValueError, TypeError):
                cache[object_id] = None
        return cache[object_id]

    def changelist_view(self, request, extra_context=None):
        # Django's generic "Выберите заявка для изменения" is ungrammatical in Russian.
        return super().changelist_view(request, {"title": "Заявки", **(extra_context or {})})

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        ticket = self.get_object(request, object_id)
        if ticket is not None:
            extra_context.update(self._ticket_context(ticket))
        return super().change_view(request, object_id, form_url, extra_context)

    def _ticket_context(self, ticket: Ticket) -> dict:
        thread = []
        for message in ticket.messages.all():
            attachments = list(message.attachments.all())
            html_doc = ""
            if message.body_html:
                safe = selectors.mail_html_safe(message.body_html, selectors.inline_image_data_urls(message))
                html_doc = selectors.mail_frame_document(safe)
            thread.append({
                "message": message,
                "html_doc": html_doc,
                "attachments": [{"obj": a, "url": attachment_url(a.pk),
                                 "is_image": a.content_type.lower() in selectors.INLINE_IMAGE_TYPES}
                                for a in attachments],
                "raw_url": reverse("admin:tickets_message_raw", args=[message.pk]),
            })
        return {
            "ticket": ticket,
            "thread": thread,
            "sources": _sources(ticket.llm_sources),
            "outbound": [{"obj": o, "color": OUTBOUND_COLORS.get(o.status, "#607d8b")} for o in ticket.outbound_emails.all()],
            "runs": list(ticket.processing_runs.all()),
            "intent_label": selectors.INTENT_LABELS.get(ticket.intent, ticket.intent),
            "sentiment_color": SENTIMENT_COLORS.get(ticket.sentiment, "#607d8b"),
            "status_color": STATUS_COLORS.get(ticket.status, "#607d8b"),
            "priority_color": PRIORITY_COLORS.get(ticket.priority, "#607d8b"),
        }

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Write only what the operator changed: the page may be minutes old, and a full save
        # would put back the status the reply worker or the drafting job has set since.
        fields = list(form.changed_data)
        if "status" in fields:
            if obj.status == Ticket.Status.CLOSED:
                obj.closed_at = timezone.now()
            else:
                obj.closed_at = None
            fields.append("closed_at")
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])

    def response_change(self, request, obj):
        if "_send_reply" in request.POST:
            try:
                result = services.reply_request(obj.pk, user=request.user)
            except services.ReplyConflict as exc:
                self.message_user(request, str(exc), messages.WARNING)
            except services.ReplyError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                self.message_user(request, f"Ответ поставлен в очередь на отправку ({result.outbound.to_address}).",
                                  messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        if "_regenerate" in request.POST:
            services.ticket_regenerate_draft(obj.pk)
            self.message_user(request, "Новый черновик поставлен в очередь; страница обновится после его готовности.",
                              messages.INFO)
            return HttpResponseRedirect(request.path)
        if "_assign_me" in request.POST:
            services.ticket_assign(obj.pk, request.user)
            self.message_user(request, "Заявка назначена на вас.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        if "_close" in request.POST:
            services.ticket_close(obj.pk)
            self.message_user(request, "Заявка закрыта.", messages.SUCCESS)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # -- dashboard --

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="tickets_dashboard"),
        ] + super().get_urls()

    def dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        date_range = _range_from(request.GET.get("from"), request.GET.get("to"))
        stats = selectors.ticket_stats(date_range)
        sentiment_labels = dict(Ticket.Sentiment.choices) | {"unknown": "Не определена"}
        chart_data = {
            "per_day": {"labels": [d["date"].strftime("%d.%m") for d in stats["per_day"]],
                        "values": [d["count"] for d in stats["per_day"]]},
            "sentiment": {"labels": [sentiment_labels[k] for k in stats["sentiment"]],
                          "values": list(stats["sentiment"].values()),
                          "colors": [SENTIMENT_COLORS.get(k, "#bdbdbd") for k in stats["sentiment"]]},
            "devices": {"labels": [d["device_type"] for d in stats["top_device_types"]],
                        "values": [d["count"] for d in stats["top_device_types"]]},
            "replies": {"labels": [OutboundEmail.Status(k).label for k in stats["replies"]],
                        "values": list(stats["replies"].values()),
                        "colors": [OUTBOUND_COLORS[k] for k in stats["replies"]]},
        }
        context = {
            **self.admin_site.each_context(request),
            "title": "Аналитика",
            "opts": self.model._meta,
            "stats": stats,
            "chart_data": chart_data,
            "median_first_response": _duration(stats["median_first_response_seconds"]),
            "p90_first_response": _duration(stats["p90_first_response_seconds"]),
            "status_rows": [(Ticket.Status(k).label, v, STATUS_COLORS[k]) for k, v in stats["by_status"].items()],
            "sentiment_rows": [(sentiment_labels[k], v) for k, v in stats["sentiment"].items()],
            "range_from": date_range.start.isoformat(),
            "range_to": date_range.end.isoformat(),
        }
        return TemplateResponse(request, "admin/tickets/dashboard.html", context)


def _sources(raw) -> list[dict]:
    """The draft's knowledge sources, with every key the template reads."""
    if not isinstance(raw, list):
        return []
    return [{"title": s.get("document") or s.get("file") or "документ", "page": s.get("page"),
             "score": s.get("score"), "cited": bool(s.get("cited"))} for s in raw if isinstance(s, dict)]


def _range_from(start: str | None, end: str | None) -> selectors.DateRange:
    default = selectors.DateRange.last_days(30)
    try:
        first = dt.date.fromisoformat(start) if start else default.start
        last = dt.date.fromisoformat(end) if end else default.end
    except ValueError:
        return default
    if first > last:
        first, last = last, first
    if (last - first).days > 366:
        first = last - dt.timedelta(days=366)
    return selectors.DateRange(first, last)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes} мин"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} ч {minutes} мин"
    days, hours = divmod(hours, 24)
    return f"{days} дн {hours} ч"


# --- mail --------------------------------------------------------------------------------------

@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["id", "received_at", "direction", "from_address", "subject", "ticket", "is_auto", "parse_status"]
    list_filter = ["direction", "parse_status", "is_auto", "source", "received_at"]
    search_fields = ["=message_id", "from_address", "subject"]
    list_select_related = ["ticket"]
    # Stored mail is evidence: nothing is editable; HTML is shown only sanitised, on the ticket page.
    exclude = ["raw", "body_html"]
    readonly_fields = [f.name for f in Message._meta.fields if f.name not in ("raw", "body_html")] + ["raw_link"]
    show_full_result_count = False

    def get_queryset(self, request):
        return super().get_queryset(request).defer("raw")

    def has_add_permission(self, request):
        return False

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
            raise PermissionDenied
        response = HttpResponse(bytes(message.raw), content_type="message/rfc822")
        response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
        return response


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "is_inline", "message", "download_link"]
    search_fields = ["filename", "=sha256"]
    list_select_related = ["message"]
    readonly_fields = ["message", "filename", "content_type", "size", "sha256", "is_inline", "content_id", "download_link"]
    exclude = ["file"]

    def get_queryset(self, request):
        # The list shows the message's subject only: not its raw bytes or bodies.
        return super().get_queryset(request).defer("message__raw", "message__body_text", "message__body_html")

    def has_add_permission(self, request):
        return False

    @admin.display(description="Файл")
    def download_link(self, obj):
        return format_html('<a href="{}">скачать</a>', attachment_url(obj.pk))

    def get_urls(self):
        return [
            path("<int:pk>/download/", self.admin_site.admin_view(self.download_view), name="tickets_attachment_download"),
        ] + super().get_urls()

    def download_view(self, request, pk):
        attachment = get_object_or_404(Attachment, pk=pk)
        if not self.has_view_permission(request, attachment):
            raise PermissionDenied
        return attachment_response(attachment, inline=request.GET.get("inline") == "1")


def attachment_response(attachment: Attachment, *, inline: bool = False) -> FileResponse:
    """Serve a customer's file without letting it run in our origin: only raster images may be
    shown inline; everything else is a download, with sniffing off and a sandboxing CSP."""
    try:
        handle = attachment.file.open("rb")
    except (OSError, ValueError):
        raise Http404("Файл вложения не найден в хранилище.") from None
    content_type = (attachment.content_type or mimetypes.guess_type(attachment.filename)[0] or "").lower()
    safe_inline = inline and content_type in selectors.INLINE_IMAGE_TYPES
    response = FileResponse(handle, as_attachment=not safe_inline, filename=attachment.filename or f"file-{attachment.pk}",
                            content_type=content_type if safe_inline else "application/octet-stream")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- contacts --------------------------------------------------------------------------------------

class ContactTicketInline(admin.TabularInline):
    model = Ticket
    fk_name = "contact"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["number", "subject", "status", "sentiment", "device_type", "created_at"]
    readonly_fields = fields
    ordering = ["-created_at"]
    verbose_name_plural = "Заявки клиента"

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).only(*self.fields, "contact")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "company", "phone", "ticket_count_link", "open_tickets", "created_at"]
    search_fields = ["email", "name", "company", "phone"]
    inlines = [ContactTicketInline]
    show_full_result_count = False

    def get_queryset(self, request):
        return selectors.contact_list(super().get_queryset(request))

    @admin.display(description="Заявок", ordering="ticket_count")
    def ticket_count_link(self, obj):
        url = reverse("admin:tickets_ticket_changelist") + f"?contact__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.ticket_count)

    @admin.display(description="Открытых", ordering="open_ticket_count")
    def open_tickets(self, obj):
        return obj.open_ticket_count


# --- replies, mailbox, processing --------------------------------------------------------------------

@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ["id", "ticket", "to_address", "status_badge", "attempts", "requested_by", "created_at", "sent_at", "last_error"]
    list_filter = ["status", "created_at"]
    search_fields = ["to_address", "=message_id", "ticket__number"]
    list_select_related = ["ticket", "requested_by"]
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Статус", ordering="status")
    def status_badge(self, obj):
        return badge(obj.get_status_display(), OUTBOUND_COLORS.get(obj.status, "#607d8b"))


@admin.register(MailboxState)
class MailboxStateAdmin(admin.ModelAdmin):
    list_display = ["__str__", "uidvalidity", "last_uid", "last_poll_at", "last_success_at", "last_error"]


@admin.register(ProcessingRun)
class ProcessingRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "ticket", "stage", "backend", "ok", "latency_ms", "error"]
    list_filter = ["stage", "ok", "backend"]
    list_select_related = ["ticket"]
    readonly_fields = [f.name for f in ProcessingRun._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

"""Admin: staff link their Telegram (one-time code / deep link) and choose what the bot sends.

Every active staff member sees and edits their own link; users with the model permissions
(or superusers) see everyone's.
"""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from notifications import services
from notifications.models import TelegramLink, TelegramMessage


@admin.register(TelegramLink)
class TelegramLinkAdmin(admin.ModelAdmin):
    list_display = ["user", "linked_display", "telegram_username", "preference", "is_active", "linked_at", "last_error"]
    list_filter = ["preference", "is_active"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "telegram_username"]
    fields = ["user", "linked_display", "telegram_username", "linked_at", "code_display", "preference", "is_active",
              "last_error"]
    readonly_fields = ["user", "linked_display", "telegram_username", "linked_at", "code_display", "last_error"]
    change_list_template = "admin/notifications/telegramlink/change_list.html"

    # --- who sees what ---
    def _sees_all(self, request, action="view"):
        return request.user.is_superuser or request.user.has_perm(f"notifications.{action}_telegramlink")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if self._sees_all(request) else qs.filter(user=request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request) and (obj is None or obj.user_id == request.user.pk or self._sees_all(request))

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request) and (
            obj is None or obj.user_id == request.user.pk or self._sees_all(request, "change"))

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request) and (
            obj is None or obj.user_id == request.user.pk or self._sees_all(request, "delete"))

    def has_add_permission(self, request):
        return False  # links are created by «Привязать мой Telegram»

    # --- display ---
    @admin.display(description="Чат", boolean=True)
    def linked_display(self, obj):
        return obj.is_linked

    @admin.display(description="Код привязки")
    def code_display(self, obj):
        if not obj.code_is_valid:
            return "— (получите новый кнопкой «Привязать мой Telegram» в списке)"
        link = services.deep_link(obj.code)
        until = timezone.localtime(obj.code_expires_at).strftime("%H:%M")
        if link:
            return format_html('<a href="{0}" target="_blank" rel="noopener">{0}</a> (действует до {1})', link, until)
        return format_html("отправьте боту: <code>/start {}</code> (действует до {})", obj.code, until)

    # --- linking page ---
    def get_urls(self):
        return [
            path("connect/", self.admin_site.admin_view(self.connect_view), name="notifications_telegramlink_connect"),
            *super().get_urls(),
        ]

    def connect_view(self, request):
        if not self.has_module_permission(request):
            messages.error(request, "Привязать Telegram могут только активные сотрудники.")
            return redirect("admin:index")
        link = services.link_code_issue(request.user)
        username = services.bot_username()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Привязка Telegram",
            "link": link,
            "code": link.code,
            "deep_link": services.deep_link(link.code, username),
            "bot_username": username,
            "expires_at": link.code_expires_at,
            "changelist_url": reverse("admin:notifications_telegramlink_changelist"),
        }
        return TemplateResponse(request, "admin/notifications/telegramlink/connect.html", context)


@admin.register(TelegramMessage)
class TelegramMessageAdmin(admin.ModelAdmin):
    list_display = ["ticket", "chat_id", "message_id", "sent_at", "updated_at"]
    list_select_related = ["ticket"]
    search_fields = ["=ticket__number", "=chat_id"]
    readonly_fields = ["ticket", "chat_id", "message_id", "content_hash", "sent_at", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

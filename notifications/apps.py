from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Уведомления"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from notifications import signals

        signals.connect()

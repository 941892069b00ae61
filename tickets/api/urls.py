from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tickets.api import views

router = DefaultRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("attachments", views.AttachmentViewSet, basename="attachment")

urlpatterns = [
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("", include(router.urls)),
]

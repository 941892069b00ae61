from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tickets.api import views

router = DefaultRouter()
router.register("tickets", views.TicketViewSet, basename="ticket")

urlpatterns = [path("", include(router.urls))]

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from enigma_site import health, metrics

admin.site.site_header = "Enigma — служба поддержки"
admin.site.site_title = "Enigma"
admin.site.index_title = "Заявки и почта"
admin.site.index_template = "admin/enigma_index.html"

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/knowledge/", include("knowledge.urls")),
    path("api/v1/nlp/", include("nlp.urls")),
    path("api/v1/", include("tickets.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    # Also answered by health.ProbeMiddleware (before host checks); the routes keep reverse() working.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]

from django.urls import include, path

urlpatterns = [path("api/v1/knowledge/", include("knowledge.urls"))]

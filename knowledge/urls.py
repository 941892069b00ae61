"""Included by the site under ``api/v1/knowledge/``."""

from django.urls import path

from knowledge.api import KnowledgeSearchView

app_name = "knowledge"

urlpatterns = [path("search/", KnowledgeSearchView.as_view(), name="search")]

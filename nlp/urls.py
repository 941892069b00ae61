from django.urls import path

from nlp.api import AnalyzeView

urlpatterns = [path("analyze/", AnalyzeView.as_view(), name="nlp-analyze")]

"""POST /api/v1/nlp/analyze/ (staff only): the same result as ``analyze_text --json``."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from nlp.service import AnalysisError, analyze

MAX_TEXT = 1_000_000


class AnalyzeRequestSerializer(serializers.Serializer):
    text = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=MAX_TEXT)


class AnalyzeView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        request=AnalyzeRequestSerializer,
        responses=inline_serializer("NlpAnalysis", {
            "entities": serializers.DictField(), "sentiment": serializers.DictField(),
            "summary": serializers.CharField(), "intent": serializers.CharField(),
            "intent_confidence": serializers.FloatField(), "priority": serializers.CharField(),
            "masked_text": serializers.CharField(), "warnings": serializers.ListField(child=serializers.CharField()),
        }),
        examples=[OpenApiExample("mail", value={"text": "Сигнал-4 зав. № 0412 не включается. Петров Сергей, +7 916 123-45-67"},
                                 request_only=True)],
    )
    def post(self, request):
        data = AnalyzeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = analyze(data.validated_data["text"])
        except AnalysisError as exc:
            return Response({"detail": str(exc)}, status=400)
        return Response(result.to_dict())

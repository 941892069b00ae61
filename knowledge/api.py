"""Knowledge search API (staff only): ``GET /api/v1/knowledge/search/?q=…&k=…``."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from knowledge.index import IndexMismatch, IndexNotBuilt
from knowledge.services import knowledge_search


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=2000, trim_whitespace=True)
    k = serializers.IntegerField(min_value=1, max_value=50, default=5)


class HitSerializer(serializers.Serializer):
    document = serializers.CharField()
    file = serializers.CharField()
    page = serializers.IntegerField()
    text = serializers.CharField()
    score = serializers.FloatField()
    similarity = serializers.FloatField()
    bm25 = serializers.FloatField()


class KnowledgeSearchView(APIView):
    permission_classes = [IsAdminUser]

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True, description="вопрос"),
                    OpenApiParameter("k", int, required=False, description="сколько результатов, 1–50")],
        responses={200: inline_serializer("KnowledgeSearchResult", {"query": serializers.CharField(),
                                                                    "results": HitSerializer(many=True)})},
        summary="Поиск по базе знаний",
    )
    def get(self, request):
        params = SearchQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            hits = knowledge_search(params.validated_data["q"], params.validated_data["k"])
        except (IndexNotBuilt, IndexMismatch) as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response({"query": params.validated_data["q"],
                         "results": HitSerializer([hit.as_dict() for hit in hits], many=True).data})

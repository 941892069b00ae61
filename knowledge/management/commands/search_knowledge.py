import json
import sys

from django.core.management.base import BaseCommand, CommandError

from knowledge.index import IndexMismatch, IndexNotBuilt
from knowledge.services import knowledge_search


class Command(BaseCommand):
    help = "Поиск по базе знаний (гибридный: FAISS + BM25 по леммам)."

    def add_arguments(self, parser):
        parser.add_argument("query", nargs="?", help="вопрос; с --jsonl читается из stdin")
        parser.add_argument("-k", type=int, default=5, help="сколько результатов (по умолчанию 5)")
        parser.add_argument("--json", dest="as_json", action="store_true", help="вывод в JSON")
        parser.add_argument("--jsonl", dest="as_jsonl", action="store_true",
                            help='stdin: по строке {"query": …[, "k": N]}, stdout: список результатов на строку')

    def handle(self, *args, query=None, k=5, as_json=False, as_jsonl=False, **options):
        if not 1 <= k <= 100:
            raise CommandError("-k: от 1 до 100")
        try:
            if as_jsonl:
                return self._jsonl(k)
            if not query:
                raise CommandError("укажите вопрос или --jsonl")
            hits = knowledge_search(query, k)
        except (IndexNotBuilt, IndexMismatch) as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(_dumps([hit.as_dict() for hit in hits]))
            return
        if not hits:
            self.stdout.write("ничего не найдено")
        for rank, hit in enumerate(hits, start=1):
            self.stdout.write(self.style.SUCCESS(f"{rank}. «{hit.document}», стр. {hit.page} "
                                                 f"(score {hit.score:.4f}, cos {hit.similarity:.3f})"))
            self.stdout.write(f"   {hit.text}\n")

    def _jsonl(self, default_k):
        for number, line in enumerate(sys.stdin, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
                query = item["query"] if isinstance(item, dict) else str(item)
                k = int(item.get("k", default_k)) if isinstance(item, dict) else default_k
            except (ValueError, KeyError, TypeError) as exc:
                self.stdout.write(_dumps({"error": f"строка {number}: {exc}"}))
                continue
            self.stdout.write(_dumps([hit.as_dict() for hit in knowledge_search(query, max(1, min(k, 100)))]))


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)

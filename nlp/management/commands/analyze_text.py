"""Analyse a mail text: ``analyze_text [--file F] [--json] [--jsonl]`` (stdin when no file)."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from nlp.service import analyze


class Command(BaseCommand):
    help = "Извлечь сущности, тональность, краткое содержание и замаскировать ПДн в тексте письма."

    def add_arguments(self, parser):
        parser.add_argument("text", nargs="?", help="текст (иначе --file или stdin)")
        parser.add_argument("--file", "-f", help="файл с текстом (UTF-8); '-' — stdin")
        parser.add_argument("--json", action="store_true", help="вывести результат в JSON")
        parser.add_argument("--jsonl", action="store_true",
                            help='пакет: на входе по строке {"text": ...}, на выходе по строке результата')

    def _read(self, options) -> str:
        if options["text"] is not None:
            return options["text"]
        if options["file"] and options["file"] != "-":
            try:
                with open(options["file"], "rb") as fh:
                    return fh.read().decode("utf-8", errors="replace")
            except OSError as exc:
                raise CommandError(f"не удалось прочитать {options['file']}: {exc}") from exc
        return sys.stdin.buffer.read().decode("utf-8", errors="replace")

    def handle(self, *args, **options):
        if options["jsonl"]:
            return self._jsonl(options)
        result = analyze(self._read(options))
        data = result.to_dict()
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        ents = data["entities"]
        phones = ", ".join(p["number"] + (f" доб. {p['ext']}" if p["ext"] else "") for p in ents["phones"])
        rows = [
            ("ФИО", ents["person"]), ("Телефоны", phones), ("E-mail", ", ".join(ents["emails"])),
            ("Организация", ents["company"]), ("Объект", ents["facility"]), ("Прибор", ents["device_type"]),
            ("Зав. №", ents["serial"]),
            ("Тональность", f"{data['sentiment']['label']} ({data['sentiment']['score']}, {data['sentiment']['backend']})"),
            ("Тема", f"{data['intent']} ({data['intent_confidence']})"), ("Приоритет", data["priority"]),
            ("Кратко", data["summary"]),
        ]
        for label, value in rows:
            self.stdout.write(f"{label:12} {value or '—'}")
        for warning in data["warnings"]:
            self.stdout.write(self.style.WARNING(f"Внимание: {warning}"))
        self.stdout.write("\nБез ПДн:\n" + data["masked_text"])

    def _jsonl(self, options):
        source = open(options["file"], encoding="utf-8", errors="replace") \
            if options["file"] and options["file"] != "-" else sys.stdin
        try:
            for lineno, line in enumerate(source, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    text = item["text"] if isinstance(item, dict) else item
                    out = analyze(text).to_dict()
                    if isinstance(item, dict) and "id" in item:
                        out = {"id": item["id"], **out}
                except (ValueError, KeyError, TypeError) as exc:
                    out = {"line": lineno, "error": f"{type(exc).__name__}: {exc}"}
                self.stdout.write(json.dumps(out, ensure_ascii=False))
        finally:
            if source is not sys.stdin:
                source.close()

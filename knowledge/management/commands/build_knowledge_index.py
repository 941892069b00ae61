from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.services import knowledge_index_build


class Command(BaseCommand):
    help = "Индексирует PDF базы знаний (KNOWLEDGE_DIR и загруженные в админке) в FAISS + BM25."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="каталог с PDF (по умолчанию KNOWLEDGE_DIR)")
        parser.add_argument("--rebuild", action="store_true", help="перечитать и переиндексировать все файлы")
        parser.add_argument("--no-progress", action="store_true", help="без индикатора выполнения")

    def handle(self, *args, source=None, rebuild=False, no_progress=False, **options):
        if source and not Path(source).is_dir():
            raise CommandError(f"каталог не найден: {source}")

        def progress(description, total):
            from tqdm import tqdm

            return tqdm(total=total, desc=description, unit="", file=self.stderr._out,
                        disable=no_progress or options.get("verbosity", 1) == 0)

        report = knowledge_index_build(source, rebuild=rebuild, progress=progress)
        if report.used_sample:
            self.stdout.write(self.style.WARNING(
                f"KNOWLEDGE_DIR не существует — индексируется демонстрационная база {report.source}"))
        for name, reason in report.no_text:
            self.stdout.write(self.style.WARNING(f"НЕ ПРОИНДЕКСИРОВАН {name}: {reason}"))
        for name, reason in report.failed:
            self.stdout.write(self.style.ERROR(f"ОШИБКА {name}: {reason}"))
        for name in report.missing:
            self.stdout.write(self.style.WARNING(f"нет файла {name}: документ исключён из индекса"))
        state = f"новая версия {report.version}" if report.changed else "изменений нет, индекс не менялся"
        self.stdout.write(self.style.SUCCESS(
            f"Готово за {report.seconds:.1f} с: проиндексировано {len(report.indexed)}, без изменений "
            f"{len(report.unchanged)}, без текста {len(report.no_text)}, ошибок {len(report.failed)}; "
            f"в индексе {report.pages} стр., {report.chunks} фрагм.; {state}."))

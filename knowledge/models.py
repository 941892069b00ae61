"""Knowledge documents: the PDF manuals the drafts are written from."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class KnowledgeDocument(models.Model):
    """One PDF: uploaded in the admin (``file``) or found in ``KNOWLEDGE_DIR`` (``source_path``)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Ожидает индексации")
        INDEXED = "indexed", _("Проиндексирован")
        NO_TEXT = "no_text", _("Нет текстового слоя")
        FAILED = "failed", _("Ошибка чтения")
        MISSING = "missing", _("Файл не найден")

    title = models.CharField(_("название"), max_length=500, blank=True,
                             help_text=_("Пусто — взять из свойств PDF или имени файла."))
    file = models.FileField(_("файл PDF"), upload_to="knowledge/", max_length=500, blank=True)
    source_path = models.CharField(_("путь в каталоге базы знаний"), max_length=1000, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True, db_index=True)
    pages = models.PositiveIntegerField(_("страниц"), default=0)
    chunks = models.PositiveIntegerField(_("фрагментов"), default=0)
    status = models.CharField(_("статус"), max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(_("ошибка"), blank=True)
    indexed_at = models.DateTimeField(_("проиндексирован"), null=True, blank=True)
    created_at = models.DateTimeField(_("добавлен"), auto_now_add=True)
    updated_at = models.DateTimeField(_("изменён"), auto_now=True)

    class Meta:
        verbose_name = _("документ базы знаний")
        verbose_name_plural = _("документы базы знаний")
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source_path"], condition=~models.Q(source_path=""),
                                    name="knowledge_document_source_path_unique"),
        ]

    def __str__(self):
        return self.title or self.name

    @property
    def name(self) -> str:
        """File name shown to staff and used as the document's key in the index."""
        from pathlib import PurePath

        return PurePath(self.source_path or self.file.name or "").name

    @property
    def key(self) -> str:
        return f"doc{self.pk}"

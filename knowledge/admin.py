"""Admin: upload PDF manuals; the index is rebuilt in the background after each change."""

from django import forms
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from knowledge.jobs import enqueue_index_build
from knowledge.models import KnowledgeDocument


class KnowledgeDocumentForm(forms.ModelForm):
    class Meta:
        model = KnowledgeDocument
        fields = ["title", "file"]

    def clean_file(self):
        upload = self.cleaned_data.get("file")
        if not upload and not (self.instance.pk and self.instance.source_path):
            raise forms.ValidationError("Загрузите PDF-файл.")
        if isinstance(upload, UploadedFile):
            head = upload.read(5)
            upload.seek(0)
            if head != b"%PDF-":
                raise forms.ValidationError("Это не PDF-файл.")
        return upload


def _queue_build(request) -> None:
    def enqueue():
        if enqueue_index_build() is None:
            messages.warning(request, "Очередь задач недоступна: выполните manage.py build_knowledge_index вручную.")

    transaction.on_commit(enqueue)


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(admin.ModelAdmin):
    form = KnowledgeDocumentForm
    list_display = ["__str__", "file_name", "status", "pages", "chunks", "indexed_at"]
    list_filter = ["status"]
    search_fields = ["title", "source_path", "file"]
    readonly_fields = ["source_path", "sha256", "status", "error", "pages", "chunks", "indexed_at", "created_at",
                       "updated_at"]
    actions = ["reindex"]

    @admin.display(description="Файл")
    def file_name(self, obj):
        return obj.name

    def save_model(self, request, obj, form, change):
        if "file" in form.changed_data:
            obj.status, obj.error = KnowledgeDocument.Status.PENDING, ""
        super().save_model(request, obj, form, change)
        if not change or form.changed_data:
            _queue_build(request)
            messages.info(request, "Документ будет проиндексирован в фоне (задача поставлена в очередь).")

    def delete_model(self, request, obj):
        stored = obj.file.name
        super().delete_model(request, obj)
        if stored:
            obj.file.storage.delete(stored)
        _queue_build(request)

    def delete_queryset(self, request, queryset):
        stored = [(doc.file.storage, doc.file.name) for doc in queryset if doc.file]
        super().delete_queryset(request, queryset)
        for storage, name in stored:
            storage.delete(name)
        _queue_build(request)

    @admin.action(description="Переиндексировать базу знаний")
    def reindex(self, request, queryset):
        queryset.update(status=KnowledgeDocument.Status.PENDING)
        _queue_build(request)
        messages.info(request, "Индексация поставлена в очередь.")

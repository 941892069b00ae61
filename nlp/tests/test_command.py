import json
from io import StringIO

from django.core.management import call_command


def test_json_from_file(tmp_path):
    path = tmp_path / "mail.txt"
    path.write_text("Хоббит-Т № 3344 работает, спасибо!\nДенис Яковлев\n8 911 444 55 66", encoding="utf-8")
    out = StringIO()
    call_command("analyze_text", "--file", str(path), "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["entities"]["serial"] == "3344" and data["sentiment"]["label"] == "positive"


def test_jsonl_batch(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text('{"id": 7, "text": "Сигнал-4 не включается"}\n\nnot json\n{"text": ""}\n', encoding="utf-8")
    out = StringIO()
    call_command("analyze_text", "--file", str(path), "--jsonl", stdout=out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines[0]["id"] == 7 and lines[0]["entities"]["device_type"] == "Сигнал-4"
    assert "error" in lines[1]
    assert lines[2]["warnings"]


def test_plain_output():
    out = StringIO()
    call_command("analyze_text", "Петров Сергей, тел. 8 916 123-45-67", stdout=out)
    assert "+79161234567" in out.getvalue() and "[ТЕЛЕФОН]" in out.getvalue()

import json
import os

import pytest

from nlp import loaders
from nlp.service import AnalysisError, analyze

KEYS = {"entities", "sentiment", "summary", "intent", "intent_confidence", "priority", "masked_text", "warnings"}


def test_result_shape():
    data = analyze("Добрый день! Сигнал-4 зав. № 0412 не включается.\nПетров Сергей, +7 916 123-45-67").to_dict()
    assert KEYS <= set(data)
    assert set(data["entities"]) >= {"person", "phones", "emails", "company", "serial", "device_type"}
    assert set(data["sentiment"]) == {"label", "score", "backend"}
    json.dumps(data, ensure_ascii=False)


@pytest.mark.parametrize("text, warning", [
    ("", "нет текста"),
    (None, "нет текста"),
    ("😡😡😡🔥🔥", "нет слов"),
    ("   \n\n  ", "нет текста"),
    ("\x00\x01\x02\x03\xff" * 2000, None),
    (bytes(range(256)) * 100, None),
])
def test_bad_input_gives_a_clear_result(text, warning):
    result = analyze(text)
    data = result.to_dict()
    assert data["sentiment"]["label"] in {"negative", "neutral", "positive"}
    if warning:
        assert any(warning in w for w in data["warnings"]), data["warnings"]


def test_one_megabyte_of_text_is_cut_not_choked_on():
    text = ("Прибор АНКАТ-7664Микро не работает, безобразие! Петров Сергей, +7 916 123-45-67. " * 13000)[:1_000_000]
    result = analyze(text)
    assert result.warnings and "проанализировано начало" in result.warnings[0]
    assert result.entities.device_type == "АНКАТ-7664Микро"
    assert result.timings_ms["total"] < 10_000


def test_wrong_type_is_an_error():
    with pytest.raises(AnalysisError):
        analyze(12345)


def test_models_load_once_per_process():
    analyze("Сигнал-4 не работает. Петров Сергей")
    before = dict(loaders.LOADS)
    analyze("Спасибо за ремонт, Иванова Анна")
    assert dict(loaders.LOADS) == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_forked_after_warm_up_loads_nothing():
    """What tickets.worker.PreloadedWorker relies on: RQ forks per job after the parent warmed up."""
    loaders.warm_up()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            before = dict(loaders.LOADS)
            analyze("Сигнал-4 не работает. Петров Сергей")
            os.write(write, json.dumps(dict(loaders.LOADS) == before).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as fh:
        same = fh.read()
    os.waitpid(pid, 0)
    assert same == "true"

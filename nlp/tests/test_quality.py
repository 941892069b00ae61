"""Per-field precision/recall/F1 on the labelled mails; fails below the bars measured for them.

Bars (see benchmarks/RESULTS.md): measured on dev (used for tuning the rules) and on holdout
(written before the rules were run on it). Each bar sits a little under the holdout figure.
"""

import pytest

from nlp.service import analyze
from nlp.tests.labelled import evaluate, load, report

BARS = {"person": 0.95, "phones": 0.97, "emails": 0.97, "company": 0.90, "serial": 0.95, "device_type": 0.97}
SENTIMENT_MACRO_F1 = 0.90
INTENT_ACCURACY = 0.85


@pytest.fixture(scope="module", params=["dev", "holdout"])
def measured(request):
    mails = load(request.param)
    return request.param, evaluate(mails, analyze)


def test_the_labelled_set_is_big_enough():
    dev, holdout = load("dev"), load("holdout")
    assert len(dev) + len(holdout) >= 80
    assert {m.labels["sentiment"] for m in dev + holdout} == {"negative", "neutral", "positive"}
    assert len({m.id for m in dev + holdout}) == len(dev) + len(holdout)


def test_entity_f1_meets_the_bars(measured):
    name, result = measured
    print(f"\n[{name}]\n{report(result)}")
    low = {f: round(s.f1, 3) for f, s in result["fields"].items() if s.f1 < BARS[f]}
    assert not low, (low, {f: result["fields"][f].errors for f in low})


def test_sentiment_macro_f1_meets_the_bar(measured):
    name, result = measured
    assert result["sentiment_macro_f1"] >= SENTIMENT_MACRO_F1, result["sentiment_errors"]


def test_intent_accuracy_meets_the_bar(measured):
    name, result = measured
    assert result["intent_accuracy"] >= INTENT_ACCURACY, result["intent_errors"]


def test_no_phone_or_email_left_in_masked_text(measured):
    name, result = measured
    assert result["masking_leaks"] == []

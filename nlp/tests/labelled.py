"""The labelled mail set (nlp/tests/data) and per-field scoring, shared by tests and benchmarks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nlp.devices import loose_key

DATA = Path(__file__).parent / "data"
FIELDS = ("person", "phones", "emails", "company", "serial", "device_type")


@dataclass
class Mail:
    id: str
    labels: dict
    text: str


def load(name: str) -> list[Mail]:
    raw = (DATA / f"{name}.txt").read_text(encoding="utf-8")
    mails = []
    for chunk in re.split(r"^### ", raw, flags=re.M)[1:]:
        header, _, body = chunk.partition("\n---\n")
        lines = header.split("\n")
        labels = {}
        for line in lines[1:]:
            key, _, value = line.partition(":")
            labels[key.strip()] = value.strip()
        mails.append(Mail(id=lines[0].strip(), labels=labels, text=body.rstrip("\n")))
    return mails


def norm_person(v: str) -> tuple:
    v = v.lower().replace("ё", "е")
    v = re.sub(r"([а-яa-z])\.\s*", r"\1", v)  # initials: "д.с." -> "дс"
    return tuple(sorted(re.findall(r"[а-яa-z\-]+", v)))


def norm_company(v: str) -> str:
    v = v.lower().replace("ё", "е")
    return " ".join(re.sub(r"[«»\"“”„,]", " ", v).split())


def norm_phone_labels(v: str) -> set:
    out = set()
    for item in filter(None, (x.strip() for x in v.split(","))):
        number, _, ext = item.partition(";ext=")
        out.add((number, ext or None))
    return out


def normalise(fieldname: str, value) -> object:
    if fieldname == "person":
        return norm_person(value) if value else None
    if fieldname == "company":
        return norm_company(value) if value else None
    if fieldname == "serial":
        return value.upper().strip() if value else None
    if fieldname == "device_type":
        return loose_key(value) if value else None
    raise KeyError(fieldname)


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def macro_f1(pairs: list[tuple[str, str]], labels=("negative", "neutral", "positive")) -> float:
    f1s = []
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1s.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1s) / len(f1s)


def evaluate(mails: list[Mail], analyze) -> dict:
    scores = {f: Score() for f in FIELDS}
    sentiment_pairs, intent_pairs = [], []
    leaks = []
    for mail in mails:
        result = analyze(mail.text).to_dict()
        ents = result["entities"]
        for f in ("person", "company", "serial", "device_type"):
            gold = normalise(f, mail.labels.get(f, ""))
            pred = normalise(f, ents[f])
            s = scores[f]
            if pred is not None and pred == gold:
                s.tp += 1
            elif pred is not None or gold is not None:
                if pred is not None:
                    s.fp += 1
                if gold is not None:
                    s.fn += 1
                s.errors.append((mail.id, mail.labels.get(f, ""), ents[f]))
        gold_phones = norm_phone_labels(mail.labels.get("phones", ""))
        pred_phones = {(p["number"], p["ext"]) for p in ents["phones"]}
        gold_emails = {e.strip().lower() for e in mail.labels.get("emails", "").split(",") if e.strip()}
        pred_emails = set(ents["emails"])
        for f, gold, pred in (("phones", gold_phones, pred_phones), ("emails", gold_emails, pred_emails)):
            s = scores[f]
            s.tp += len(gold & pred)
            s.fp += len(pred - gold)
            s.fn += len(gold - pred)
            if gold != pred:
                s.errors.append((mail.id, sorted(gold, key=str), sorted(pred, key=str)))
        sentiment_pairs.append((mail.labels["sentiment"], result["sentiment"]["label"]))
        intent_pairs.append((mail.labels["intent"], result["intent"]))
        masked = result["masked_text"]
        masked_digits = re.sub(r"\D", "", masked)
        for number, _ in gold_phones:
            national = number[-10:]
            if national in masked_digits or number[1:] in masked_digits:
                leaks.append((mail.id, number))
        for email in gold_emails:
            if email in masked.lower():
                leaks.append((mail.id, email))
        if re.search(r"[\w.+-]+@[\w-]+\.\w+", masked):
            leaks.append((mail.id, "email-like text"))
    return {
        "fields": scores,
        "sentiment_macro_f1": macro_f1(sentiment_pairs),
        "sentiment_errors": [(m.id, g, p) for m, (g, p) in zip(mails, sentiment_pairs) if g != p],
        "intent_accuracy": sum(g == p for g, p in intent_pairs) / len(intent_pairs),
        "intent_errors": [(m.id, g, p) for m, (g, p) in zip(mails, intent_pairs) if g != p],
        "masking_leaks": leaks,
        "n": len(mails),
    }


def report(result: dict) -> str:
    lines = [f"mails: {result['n']}"]
    for f, s in result["fields"].items():
        lines.append(f"{f:12} P={s.precision:.3f} R={s.recall:.3f} F1={s.f1:.3f} (tp={s.tp} fp={s.fp} fn={s.fn})")
    lines.append(f"sentiment macro-F1={result['sentiment_macro_f1']:.3f}")
    lines.append(f"intent accuracy={result['intent_accuracy']:.3f}")
    lines.append(f"masking leaks={len(result['masking_leaks'])}")
    return "\n".join(lines)

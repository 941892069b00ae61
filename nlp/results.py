"""Result dataclasses: text in, these out. ``to_dict()`` gives the public JSON shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str  # person, phone, email, address, inn, snils, passport, serial, device
    text: str = ""


@dataclass
class Phone:
    number: str  # E.164
    ext: str | None = None

    def __str__(self) -> str:
        return f"{self.number} доб. {self.ext}" if self.ext else self.number


@dataclass
class Entities:
    person: str = ""
    phones: list[Phone] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    company: str = ""
    facility: str = ""
    serial: str = ""
    device_type: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sentiment:
    label: str  # negative | neutral | positive
    score: float  # confidence of the label, 0..1
    backend: str

    def to_dict(self) -> dict:
        return {"label": self.label, "score": round(float(self.score), 3), "backend": self.backend}


@dataclass
class Intent:
    label: str
    confidence: float


@dataclass
class Analysis:
    entities: Entities
    sentiment: Sentiment
    summary: str
    intent: Intent
    priority: str
    masked_text: str
    cleaned_text: str = ""
    timings_ms: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "entities": self.entities.to_dict(),
            "sentiment": self.sentiment.to_dict(),
            "summary": self.summary,
            "intent": self.intent.label,
            "intent_confidence": round(self.intent.confidence, 3),
            "priority": self.priority,
            "masked_text": self.masked_text,
            "warnings": list(self.warnings),
        }

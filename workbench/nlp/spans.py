"""The one span type every extractor returns, and the label set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LABELS: tuple[str, ...] = ("PERSON", "ORG", "LOCATION", "VESSEL", "PLATE", "CONTAINER", "PHONE", "COMMODITY", "MONEY")
"""Entity labels the model is trained on and scored for; recognisers may add HS_CODE."""
Source = Literal["recogniser", "gazetteer", "model"]


@dataclass(frozen=True, order=True)
class Span:
    """A mention: ``text == document[start:end]`` (character offsets into the original text).

    ``value`` is a normalised form where one exists (``+85291234567``, ``HKD 3200000``,
    ``MSKU1234565``, a gazetteer's canonical name); ``score`` is 1.0 for rule-based spans and
    the model's mean token probability otherwise.
    """

    start: int
    end: int
    label: str
    text: str
    value: str | None = None
    source: Source = "model"
    score: float = 1.0

    def overlaps(self, other: Span) -> bool:
        return self.start < other.end and other.start < self.end

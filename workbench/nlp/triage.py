"""The report classification task: topics, priorities and the customs triage policy.

The topic and priority labels are the task's definition, so they live with the classifier
that predicts them; the synthetic world's generator labels its documents with the same
policy by importing it from here (never the other way round: analytics do not import
the generator).
"""

from __future__ import annotations

TOPICS = ("drugs", "tobacco", "counterfeit", "endangered_species", "cash", "fuel", "other")
PRIORITIES = ("high", "medium", "low")
HIGH_PRIORITY_TOPICS = frozenset({"drugs", "endangered_species"})
HIGH_PRIORITY_HKD = 10_000_000.0
MEDIUM_PRIORITY_HKD = 1_000_000.0


def triage_priority(topic: str, amount_hkd: float | None, arrest: bool) -> str:
    """The triage policy: prohibited drugs and wildlife, or HK$10m+, are high; other contraband,
    HK$1m+ or an arrest are medium; the rest is low. ``amount_hkd`` is the largest sum the
    text states (None when it states none), so the priority is readable from the report."""
    amount = amount_hkd or 0.0
    if topic in HIGH_PRIORITY_TOPICS or amount >= HIGH_PRIORITY_HKD:
        return "high"
    if topic != "other" or amount >= MEDIUM_PRIORITY_HKD or arrest:
        return "medium"
    return "low"

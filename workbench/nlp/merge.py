"""The one policy that turns overlapping candidate spans into a non-overlapping set.

Candidates are ranked, then accepted greedily; a candidate that overlaps an accepted span
is dropped. The ranking, highest first:

1. source: a validated recogniser span (check digit, numbering plan, parsed amount) beats
   an exact gazetteer hit, which beats a model span. Structure that was *verified* is
   stronger evidence than a known name, and a known name matched exactly is stronger
   than a statistical guess (this is where ORG / VESSEL / LOCATION names from the lake
   override the model's boundaries);
2. length: among equals the longer span wins (``HK$370 million`` over ``HK$370``;
   ``Wing Fat Trading Co., Ltd.`` over ``Wing Fat``);
3. score, then position, so the result is deterministic.

The output is sorted by start offset. A caller may rely on: no two returned spans share a
character, and every returned span is one of the candidates unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable

from workbench.nlp.spans import Span

SOURCE_RANK = {"recogniser": 3, "gazetteer": 2, "model": 1}


def merge(candidates: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans chosen by the policy in the module docstring."""
    ranked = sorted(candidates, key=lambda s: (-SOURCE_RANK[s.source], -(s.end - s.start), -s.score, s.start))
    taken: list[Span] = []
    for span in ranked:
        if span.end > span.start and not any(span.overlaps(t) for t in taken):
            taken.append(span)
    return sorted(taken)

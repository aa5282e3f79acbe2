"""Known names from the lake (traders, vessels, control points and ports) found by exact match.

An Aho-Corasick automaton (pyahocorasick) finds every listed name in one pass over the
text, whatever the number of names, so a lake with 100k traders costs no more per
document than one with 100. Matching is exact and case-sensitive on purpose: a gazetteer
hit is evidence the merge policy trusts over the model, so it must not fire on a common
word that happens to be a name. Latin names must also start and end at word edges
(``Wing Fat`` inside ``Wing Fattah`` is not a hit); Chinese names need no edge.
"""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick

from workbench.session import Session
from workbench.nlp.spans import Span

SOURCES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("ORG", "curated.traders", "trader_id", ("name_en", "name_zh")),
    ("VESSEL", "curated.vessels", "vessel_id", ("name",)),
    ("LOCATION", "raw.ref_locations", "location_code", ("name_en", "name_zh")),
    ("COMMODITY", "raw.ref_hs_codes", "hs_code", ("desc_en", "lower(desc_en)", "desc_zh")),
)
"""(label, table, key column, name expressions); the key becomes the span's ``value``.

Tariff descriptions are also listed in lower case because running text writes goods in
lower case ("seized smartphones"); names of parties keep their case."""
MIN_NAME_LENGTH = {True: 4, False: 2}
"""Shortest name kept, for Latin (True) and other scripts: shorter names match too much."""


def _is_word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


class Gazetteer:
    """An automaton over (name -> label, id); build it once per process and reuse it."""

    def __init__(self, entries: Iterable[tuple[str, str, str]]) -> None:
        """``entries`` are (name, label, id); on a name listed twice the first entry wins."""
        self._automaton = ahocorasick.Automaton()
        for name, label, ident in entries:
            name = (name or "").strip()
            if len(name) >= MIN_NAME_LENGTH[name.isascii()] and name not in self._automaton:
                self._automaton.add_word(name, (name, label, ident))
        self.size = len(self._automaton)
        if self.size:
            self._automaton.make_automaton()

    @classmethod
    def from_lake(cls, wb: Session) -> Gazetteer:
        """Names from the curated traders and vessels and the reference locations; missing tables are skipped."""
        entries: list[tuple[str, str, str]] = []
        existing = set(wb.tables()["name"].to_list())
        for label, table, key, columns in SOURCES:
            if table in existing:
                frame = wb.sql(f"SELECT {key}, {', '.join(columns)} FROM {table}")
                entries += [(name, label, row[0]) for row in frame.iter_rows() for name in row[1:]]
        return cls(entries)

    def find(self, text: str) -> list[Span]:
        """Non-overlapping longest matches, leftmost first, respecting Latin word edges."""
        if not self.size:
            return []
        found: list[Span] = []
        for end_index, (name, label, ident) in self._automaton.iter_long(text):
            start, end = end_index - len(name) + 1, end_index + 1
            if name.isascii() and ((start > 0 and _is_word_char(text[start - 1]))
                                   or (end < len(text) and _is_word_char(text[end]))):
                continue
            found.append(Span(start, end, label, name, ident, "gazetteer"))
        return found


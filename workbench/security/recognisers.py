"""Recognisers: find identifiers by their form in text nobody declared (what a person typed or pasted).

A table written by a session carries the semantic types of the columns it was computed
from (``lineage.py``). Values that came from nowhere the session read (a list of plates
typed into a notebook, a note pasted from an e-mail) carry none, so ``Session.write``
also runs these over every text column it lands: a column in which one finds a value is
marked with that type in the catalog and masked like any column of it.

Each recogniser checks what the form allows and nothing looser:

- ``identity_document``: a Hong Kong identity card number as written, one or two letters,
  six digits and the check digit in brackets (``A123456(3)``), accepted only when the check
  digit is right (the Immigration Department's weighted sum modulo 11). Without brackets
  the form is that of the lake's own surrogate keys (``P0001234``), one in eleven of which
  would pass the check by chance; mainland permit numbers (``C`` and eight digits) have no
  check digit and look like keys too: neither is recognised.
- ``phone``: ``+852`` and eight digits starting 2, 3, 5, 6 or 9; ``+86 1`` and ten digits.
- ``plate``: a Hong Kong registration, two letters other than I, O and Q, a space and 1-4
  digits without a leading zero (the contract on ``raw.lbs_vehicles.plate``), as a word. It has no check digit: "HS 2401" in a goods note is matched too, so
  a column that mentions such codes is masked for those who see plates masked (the safe
  error).
"""

from __future__ import annotations

import re

import polars as pl

_HKID = r"\b([A-Z]{1,2})([0-9]{6})\(([0-9A])\)"
_PHONE = r"\+852 ?[235679][0-9]{3} ?[0-9]{4}\b|\+86 ?1[3-9][0-9]{9}\b"
_PLATE = r"\b[A-HJ-NPR-Z]{2} [1-9][0-9]{0,3}\b"


def hkid_check_digit(prefix: str, digits: str) -> str:
    """The check digit of a Hong Kong identity card number (``"A"`` for 10)."""
    letters = prefix.rjust(2)  # a one-letter prefix counts as a space (36) before it
    values = [36 if c == " " else ord(c) - ord("A") + 10 for c in letters] + [int(d) for d in digits]
    remainder = (11 - sum(v * w for v, w in zip(values, range(9, 1, -1), strict=True)) % 11) % 11
    return "A" if remainder == 10 else str(remainder)


def recognised(values: pl.Series) -> set[str]:
    """The semantic types some recogniser finds in any of the text ``values``.

    Vectorised over the distinct values (Polars' regex engine); only HKID candidates are
    checked one by one, for their check digit.
    """
    text = values.drop_nulls().unique()
    found = {kind for kind, pattern in (("plate", _PLATE), ("phone", _PHONE)) if text.str.contains(pattern).any()}
    candidates = text.filter(text.str.contains(_HKID))
    if any(hkid_check_digit(p, d) == c for value in candidates for p, d, c in re.findall(_HKID, value)):
        found.add("identity_document")
    return found

"""How each source system writes the same person or company.

Entity resolution is only worth evaluating if the systems disagree the way real ones do:
clerks abbreviate, mistype, romanise a surname differently, swap surname and given name,
or write the Chinese name only. Each function takes the canonical name and the
generator's random stream and returns one written form; ``*_variants`` return a fixed
number of forms per entity so that per-row choices can be vectorised with ``take``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.demo.vocabulary import GIVEN_NAMES, SURNAMES

_ABBREVIATIONS: tuple[tuple[str, str], ...] = (
    ("Company Limited", "Co. Ltd."), ("Co., Limited", "Co., Ltd"), ("Limited", "Ltd"), ("Company", "Co."),
    ("Trading", "Trdg"), ("International", "Int'l"), ("Import & Export", "Imp. & Exp."),
    ("Development", "Dev."), ("Enterprise", "Ent."), ("Logistics", "Logistic"), ("Technology", "Tech"),
    ("Holdings", "Hldgs"), ("Transportation", "Transport"),
)


@dataclass(frozen=True)
class PersonName:
    """A person's canonical name parts; all written forms derive from these."""

    surname: int  # index into SURNAMES
    given: int  # index into GIVEN_NAMES
    mainland: bool  # pinyin (mainland resident) rather than Cantonese romanisation

    @property
    def family_en(self) -> str:
        s = SURNAMES[self.surname]
        return s.pinyin if self.mainland else s.cantonese

    @property
    def given_en(self) -> str:
        g = GIVEN_NAMES[self.given]
        return g.pinyin if self.mainland else g.cantonese

    @property
    def en(self) -> str:
        """Canonical English form, surname first in capitals: ``CHAN Tai Man``."""
        return f"{self.family_en.upper()} {self.given_en}"

    @property
    def zh(self) -> str:
        return SURNAMES[self.surname].zh + GIVEN_NAMES[self.given].zh


def typo(text: str, rng: np.random.Generator) -> str:
    """One keying error: swap two neighbouring letters, drop one, or double one."""
    positions = [i for i, c in enumerate(text[:-1]) if c.isalpha() and text[i + 1].isalpha()]
    if not positions:
        return text
    i = positions[int(rng.integers(0, len(positions)))]
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 1:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def abbreviate_company(name: str, rng: np.random.Generator) -> str:
    """Apply the abbreviations a clerk would use, each with even odds."""
    out = name
    for long, short in _ABBREVIATIONS:
        if long in out and rng.random() < 0.6:
            out = out.replace(long, short, 1)
    return out


def company_variant(name_en: str, name_zh: str, rng: np.random.Generator, chinese_share: float = 0.0) -> str:
    """One written form of a company name as some other system holds it."""
    if rng.random() < chinese_share:
        return name_zh
    roll = rng.random()
    out = name_en
    if roll < 0.45:
        out = abbreviate_company(out, rng)
    elif roll < 0.60:
        out = typo(out, rng)
    elif roll < 0.75:
        out = out.upper().replace(",", "").replace(".", "")
    elif roll < 0.85:
        out = abbreviate_company(out, rng).upper()
    if rng.random() < 0.15:
        out = out.replace(" ", "  ", 1)
    return out


def person_variant(person: PersonName, rng: np.random.Generator, chinese_share: float = 0.0) -> str:
    """One written form of a person's name: order swap, romanisation variant, typo, hyphen."""
    if rng.random() < chinese_share:
        return person.zh
    family = person.family_en
    given = person.given_en
    if rng.random() < 0.35:
        options = (SURNAMES[person.surname].pinyin, *SURNAMES[person.surname].others)
        family = options[int(rng.integers(0, len(options)))]
    if rng.random() < 0.2:
        g = GIVEN_NAMES[person.given]
        given = g.cantonese if person.mainland else g.pinyin
    roll = rng.random()
    if roll < 0.3:
        out = f"{given} {family}"
    elif roll < 0.5:
        out = f"{family.upper()} {given.upper().replace(' ', '-')}"
    elif roll < 0.65:
        out = f"{family.upper()}, {given}"
    elif roll < 0.75:
        initials = " ".join(part[0] for part in given.split())
        out = f"{family.upper()} {initials}"
    else:
        out = f"{family.upper()} {given}"
    if rng.random() < 0.2:
        out = typo(out, rng)
    return out


def company_variants(name_en: str, name_zh: str, rng: np.random.Generator, k: int, chinese_share: float = 0.0) -> list[str]:
    """``k`` written forms; the first is the canonical English name some clerks copy exactly."""
    return [name_en] + [company_variant(name_en, name_zh, rng, chinese_share) for _ in range(k - 1)]


def person_variants(person: PersonName, rng: np.random.Generator, k: int, chinese_share: float = 0.0) -> list[str]:
    """``k`` written forms of a person's name, all produced by ``person_variant``."""
    return [person_variant(person, rng, chinese_share) for _ in range(k)]

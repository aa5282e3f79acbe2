"""Normal forms of the identifiers records share: phone numbers, registration numbers, addresses.

Each function turns one written value into a key that two systems writing the same thing
agree on, or ``None`` when the value holds nothing comparable. They follow public
conventions: E.164 country calling codes (``+852`` Hong Kong, ``+86`` mainland China,
``+853`` Macao), the 8-digit Hong Kong Business Registration number at the head of a
certificate number, and Hong Kong address writing in both orders (English: flat, floor,
building, number, street, district; Chinese: district, street, number 號, floor 樓, flat 室).
"""

from __future__ import annotations

import re
import unicodedata

from workbench.reference import AREAS, CALLING_CODES, STREETS

_NATIONAL_DIGITS = {"852": (8,), "853": (8,), "86": (10, 11), "886": (8, 9)}
"""Lengths of national significant numbers per calling code (mainland landlines 10, mobiles 11)."""


def phone_key(phone: str | None) -> str | None:
    """National significant digits of a phone number: ``+852 9123 4567``, ``(852) 91234567``, ``91234567`` agree.

    An extension (``ext. 12``, ``x12``) and a second number after ``/`` are dropped; a
    number too short to be a subscriber number gives ``None``.
    """
    if not phone:
        return None
    head = re.split(r"/|,|;|\bext\b|\bx(?=\s*\d)|轉|内线|內線", unicodedata.normalize("NFKC", phone), flags=re.I)[0]
    digits = re.sub(r"\D", "", head)
    if digits.startswith("00"):
        digits = digits[2:]
    for code in sorted(CALLING_CODES.values(), key=len, reverse=True):
        if digits.startswith(code) and len(digits) - len(code) in _NATIONAL_DIGITS[code]:
            return digits[len(code):]
    return digits if len(digits) >= 7 else None


def registration_key(number: str | None) -> str | None:
    """A business registration number without its branch and expiry suffixes.

    ``12345678-000-06-23-4`` (a certificate number) and ``12345678`` agree; other identifiers
    (a mainland unified social credit code, an identity document) keep their letters and digits.
    """
    if not number:
        return None
    text = re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", number).upper())
    head = re.match(r"\d{8}(?=(\d{3}(\d{2}){2}\w?)?$)", text)
    return head.group(0) if head else (text or None)


_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _zh_number(text: str) -> int:
    """A small number in Chinese numerals (``十二`` = 12, ``二十一`` = 21)."""
    if "十" in text:
        tens, _, units = text.partition("十")
        return (_ZH_DIGITS.get(tens, 1) if tens else 1) * 10 + (_ZH_DIGITS.get(units, 0) if units else 0)
    return int("".join(str(_ZH_DIGITS[c]) for c in text))


_ZH_NUMERAL = re.compile(r"[零〇一二兩三四五六七八九十]+(?=[號号樓楼室座期樓])")
_EN_ABBREVIATIONS = {
    "RD": "ROAD", "ST": "STREET", "STR": "STREET", "AVE": "AVENUE", "BLDG": "BUILDING", "BLK": "BLOCK", "CTR": "CENTRE",
    "CTRE": "CENTRE", "CENTER": "CENTRE", "IND": "INDUSTRIAL", "EST": "ESTATE", "HSE": "HOUSE", "TWR": "TOWER",
    "PL": "PLACE", "SQ": "SQUARE", "CRES": "CRESCENT", "LN": "LANE", "HWY": "HIGHWAY", "FLR": "FLOOR",
}
_EN_DROP = {"FLAT", "UNIT", "ROOM", "RM", "SUITE", "SHOP", "FLOOR", "F", "NO", "HONG", "KONG", "HK", "KOWLOON", "KLN",
            "NT", "NEW", "TERRITORIES", "THE", "OF", "AND"}
_AREAS_EN = set(AREAS.values())
_STREET_WORDS = {"ROAD", "STREET", "AVENUE", "LANE", "CRESCENT", "HIGHWAY", "PATH", "TERRACE", "DRIVE", "STRAND", "WAY"}
_STREETS_ZH = sorted(((s.zh, s.en.upper()) for s in STREETS), key=lambda item: -len(item[0]))
_AREAS_ZH = sorted(AREAS.items(), key=lambda item: -len(item[0]))


def address_numbers(address: str | None) -> str | None:
    """The numbers of an address (street number, floor, flat, block) as a sorted key, in either language.

    ``Flat B, 12/F, 88 Nathan Road`` and ``彌敦道88號12樓B室`` both give ``12 88 B``: numbers
    are what English and Chinese renderings of one address share letter for letter.
    Ground floor (``G/F``, ``地下``) counts as ``0``.
    """
    if not address:
        return None
    text = unicodedata.normalize("NFKC", address).upper()
    text = _ZH_NUMERAL.sub(lambda m: str(_zh_number(m.group(0))), text)
    text = re.sub(r"\bG/F\b|\bGROUND FLOOR\b|地下|地舖", " 0 ", text)
    parts = re.findall(r"\d+[A-Z]?|(?<=FLAT )[A-Z]\b|(?<=UNIT )[A-Z]\b|(?<=ROOM )[A-Z]\b|(?<=RM )[A-Z]\b|(?<=BLOCK )[A-Z]\b|"
                       r"(?<=座)[A-Z]|[A-Z](?=室|座)", text)
    parts = [p for part in parts for p in re.findall(r"\d+|[A-Z]", part)]
    return " ".join(sorted(str(int(p)) if p.isdigit() else p for p in parts)) or None


def address_area(address: str | None) -> str | None:
    """The street or, failing that, the district an address names, in English capitals, in either language."""
    if not address:
        return None
    text = unicodedata.normalize("NFKC", address)
    for zh, en in _STREETS_ZH:
        if zh in text:
            return en
    upper = text.upper().replace("'", "")
    for segment in re.split(r"[,，]", upper):
        words = [_EN_ABBREVIATIONS.get(w, w) for w in re.findall(r"[A-Z]+|\d+", segment)]
        if words and words[-1] in _STREET_WORDS:
            start = max((i + 1 for i, w in enumerate(words) if w.isdigit()), default=0)
            street = [w for w in words[start:] if w not in _EN_DROP]
            if len(street) > 1:
                return " ".join(street)
    joined = " ".join(re.findall(r"[A-Z]+", upper))
    for zh, en in _AREAS_ZH:
        if zh in text and zh != "香港":
            return en
    for area in sorted(_AREAS_EN, key=len, reverse=True):
        if re.search(rf"\b{area}\b", joined) and area != "HONG KONG":
            return area
    return None

"""Validated recognisers for identifiers with a structure a model should not have to learn.

A regular expression finds candidates; a validator (ISO 6346 check digit, phone numbering
plan, HS chapter, a parseable amount) rejects look-alikes, so a span from here is trusted
over a model span by the merge policy. Each span carries a normalised ``value`` that joins
to the structured tables: containers without spaces, phones in E.164, plates upper-case
with one space, amounts as ``<ISO currency> <number>``, HS codes as plain digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from workbench.reference.identifiers import container_is_valid
from workbench.nlp.spans import Span

_NOT_ALNUM_BEFORE = r"(?<![A-Za-z0-9])"
_NOT_ALNUM_AFTER = r"(?![A-Za-z0-9])"

_CONTAINER = re.compile(_NOT_ALNUM_BEFORE + r"([A-Z]{3}[UJZ])[ ]?(\d{6})[ ]?(\d)" + _NOT_ALNUM_AFTER)
_HK_PLATE = re.compile(  # one or two letters (no I, O, Q), 1-4 digits; not "HS 8517" nor part of a number;
    # three characters at least ("grade B2" and "A4 paper" are not plates)
    _NOT_ALNUM_BEFORE + r"(?!HS |HK |US )(?=[A-Z0-9] ?[A-Z0-9] ?[A-Z0-9])([A-HJ-NPR-Z]{1,2})[ ]?([1-9]\d{0,3})(?![,.]\d)"
    + _NOT_ALNUM_AFTER)
_MAINLAND_PLATE = re.compile(r"([粤粵])([A-Z])[·・.\- ]?([0-9A-HJ-NP-Z]{4,5})([港澳]?)")
_PHONE = re.compile(  # with a country code (``+852``, ``(852)``), or without one when the groups are written apart
    r"(?<![\d+])(?:(?:\+?(852)|\(\+?(852)\))[ -]?([2-9]\d{3})[ -]?(\d{4})"
    r"|(?:\+?(86)|\(\+?(86)\))[ -]?(1[3-9]\d)[ -]?(\d{4})[ -]?(\d{4})"
    r"|([2-9]\d{3})[ -](\d{4})"
    r"|(1[3-9]\d)[ -](\d{4})[ -](\d{4}))(?!\d|[,.]\d)")
_HS_CUE = r"(?:\bHS(?: code)?[:\s]*|稅則號碼?[:：\s]*)"
_HS = re.compile(rf"{_HS_CUE}?(?<![\d.])(\d{{4}})\.(\d{{2}})(?:\.(\d{{2}}))?(?![\d.])"
                 rf"|{_HS_CUE}(\d{{8}}|\d{{6}})(?!\d)")

_ARABIC = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_EN_CURRENCY = {"HK$": "HKD", "HKD": "HKD", "US$": "USD", "USD": "USD", "RMB": "CNY", "CNY": "CNY",
                "$": "HKD", "€": "EUR", "EUR": "EUR"}
_EN_SCALE = {"billion": 1e9, "bn": 1e9, "million": 1e6, "m": 1e6, "k": 1e3, "": 1.0, "萬": 1e4, "万": 1e4,
             "億": 1e8, "亿": 1e8}
_EN_MONEY = re.compile(  # a Chinese scale may follow the figure in code-switched text (HK$50萬)
    rf"(HK\$|US\$|HKD|USD|RMB|CNY|EUR|\$|€)\s?({_ARABIC})(?:\s?(billion|million|bn|m|k)(?![A-Za-z])|([萬万億亿]))?",
    re.IGNORECASE)

_ZH_DIGIT = {"零": 0, "〇": 0, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
             "八": 8, "九": 9}
_ZH_SMALL_UNIT = {"十": 10, "百": 100, "千": 1000}
_ZH_HEAD = "".join(_ZH_DIGIT) + "".join(_ZH_SMALL_UNIT)
_ZH_NUMBER = rf"(?:{_ARABIC}|[{_ZH_HEAD}])(?:{_ARABIC}|[{_ZH_HEAD}萬万億亿])*"
_ZH_PREFIX = {"港幣": "HKD", "港币": "HKD", "美元": "USD", "美金": "USD", "人民幣": "CNY", "人民币": "CNY"}
_ZH_SUFFIX = {"港元": "HKD", "港幣": "HKD", "美元": "USD", "美金": "USD", "人民幣": "CNY", "歐元": "EUR", "元": "HKD",
              "圓": "HKD"}
"""A bare 元 is read as Hong Kong dollars: the documents are Hong Kong's."""
_ZH_MONEY = re.compile(rf"({'|'.join(_ZH_PREFIX)})?({_ZH_NUMBER})({'|'.join(_ZH_SUFFIX)})?")

def parse_chinese_number(text: str) -> float:
    """Value of a Chinese or mixed numeral: 三百二十萬 -> 3_200_000, 四億 -> 4e8, 5,000 -> 5000, 3.2億 -> 3.2e8.

    Raises ValueError for text that is not a numeral, so callers can reject a candidate.
    """
    below_yi = below_wan = 0.0  # finished 萬 groups, and the part below 萬 so far
    yi_total = 0.0
    digit: float | None = None
    for token in re.findall(r"\d+(?:\.\d+)?|.", text.replace(",", "")):
        if token[0].isdigit():
            digit = float(token)
        elif token in _ZH_DIGIT:
            digit = float(_ZH_DIGIT[token])
        elif token in _ZH_SMALL_UNIT:
            below_wan += (1.0 if digit is None else digit) * _ZH_SMALL_UNIT[token]
            digit = None
        elif token in ("萬", "万"):
            below_yi += ((below_wan + (digit or 0.0)) or 1.0) * 1e4
            below_wan, digit = 0.0, None
        elif token in ("億", "亿"):
            yi_total += ((below_yi + below_wan + (digit or 0.0)) or 1.0) * 1e8
            below_yi = below_wan = 0.0
            digit = None
        else:
            raise ValueError(f"not a numeral: {text!r}")
    if digit is None and not (yi_total or below_yi or below_wan):
        raise ValueError(f"not a numeral: {text!r}")
    return yi_total + below_yi + below_wan + (digit or 0.0)


def _amount(value: float, currency: str) -> str:
    return f"{currency} {value:.2f}".rstrip("0").rstrip(".")


def containers(text: str) -> Iterator[Span]:
    """ISO 6346 container numbers whose check digit is right (``MSKU 123456 5`` is accepted too)."""
    for m in _CONTAINER.finditer(text):
        number = "".join(m.groups())
        if container_is_valid(number):
            yield Span(m.start(), m.end(), "CONTAINER", m.group(), number, "recogniser")


def plates(text: str) -> Iterator[Span]:
    """Hong Kong registration marks (``AB 1234``, no I/O/Q) and Guangdong cross-boundary plates (``粤Z·AB12港``)."""
    for m in _HK_PLATE.finditer(text):
        yield Span(m.start(), m.end(), "PLATE", m.group(), f"{m.group(1)} {m.group(2)}", "recogniser")
    for m in _MAINLAND_PLATE.finditer(text):
        yield Span(m.start(), m.end(), "PLATE", m.group(), f"粤{m.group(2)}·{m.group(3)}{m.group(4)}", "recogniser")


def phones(text: str) -> Iterator[Span]:
    """Hong Kong (+852, eight digits from 2-9) and mainland mobile (+86 1[3-9]…) numbers, as E.164.

    Without a country code a number is taken only when its digit groups are written apart
    (``9187 2034``, ``138 2715 4490``): eight digits in a row are as often a reference number.
    """
    for m in _PHONE.finditer(text):
        parts = [g for g in m.groups() if g]
        if parts[0] not in ("852", "86"):  # written without a country code: the length says which
            parts.insert(0, "852" if len(parts) == 2 else "86")
        yield Span(m.start(), m.end(), "PHONE", m.group(), "+" + "".join(parts), "recogniser")


def hs_codes(text: str) -> Iterator[Span]:
    """HS codes written dotted (``8517.13.00``) or after an ``HS``/``稅則號`` cue; chapter 01-97 only."""
    for m in _HS.finditer(text):
        digits = "".join(g for g in m.groups() if g)
        if 1 <= int(digits[:2]) <= 97 and digits[:2] != "77":
            yield Span(m.start(), m.end(), "HS_CODE", m.group(), digits, "recogniser")


def money_en(text: str) -> Iterator[Span]:
    """Amounts with a currency sign: ``HK$370 million``, ``US$1.2m``, ``HK$5,000``."""
    for m in _EN_MONEY.finditer(text):
        sign, number, scale = m.group(1).upper(), m.group(2), (m.group(3) or m.group(4) or "").lower()
        value = float(number.replace(",", "")) * _EN_SCALE[scale]
        yield Span(m.start(), m.end(), "MONEY", m.group(), _amount(value, _EN_CURRENCY[sign]), "recogniser")


def money_zh(text: str) -> Iterator[Span]:
    """Chinese amounts: ``四億元``, ``三百二十萬港元``, ``港幣5,000元``; a currency word is required.

    A qualifier before the amount (約, 逾, 近) stays outside the span, as ``about`` does in English.
    """
    for m in _ZH_MONEY.finditer(text):
        prefix, number, suffix = m.groups()
        if not (prefix or suffix):
            continue
        try:
            value = parse_chinese_number(number)
        except ValueError:
            continue
        currency = _ZH_PREFIX[prefix] if prefix else _ZH_SUFFIX[suffix]
        start = m.start()
        end = m.end() if suffix else m.start(2) + len(number)
        yield Span(start, end, "MONEY", text[start:end], _amount(value, currency), "recogniser")


RECOGNISERS: tuple[Callable[[str], Iterator[Span]], ...] = (containers, plates, phones, hs_codes, money_en, money_zh)


def recognise(text: str) -> list[Span]:
    """Every validated identifier in ``text``, possibly overlapping (the merge policy resolves that)."""
    return [span for recogniser in RECOGNISERS for span in recogniser(text)]

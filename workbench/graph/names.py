"""English/Chinese name canonicalisation for entity resolution.

Source systems write the same company or person differently: abbreviations (``Trdg``,
``Int'l``), Chinese-only names (``永發貿易有限公司``), and romanisation variants of one
surname (陳 = Chan = Chen = Chun). String distance alone scores ``CHAN`` against ``CHEN`` as
a near miss and ``貿易`` against ``Trading`` as nothing, so every name is first turned into
a canonical English key with the tables below (common Hong Kong surnames, company words
and legal forms, both ways); the comparisons in ``resolution.py`` then run on that key.
The tables are general Hong Kong usage, not read from any generator or truth table.
"""

from __future__ import annotations

import re
import unicodedata

SURNAME_ROMANISATIONS: dict[str, tuple[str, ...]] = {
    "陳": ("CHAN", "CHEN", "CHUN"), "黃": ("WONG", "HUANG", "WANG"), "張": ("CHEUNG", "ZHANG", "CHEONG", "CHANG"),
    "李": ("LEE", "LI", "LEI"), "吳": ("NG", "WU", "UNG"), "林": ("LAM", "LIN", "LUM", "LIM"),
    "劉": ("LAU", "LIU", "LAO"), "梁": ("LEUNG", "LIANG", "LEONG"), "王": ("WONG", "WANG", "VONG"),
    "何": ("HO", "HE", "HOH"), "鄭": ("CHENG", "ZHENG", "CHANG"), "周": ("CHOW", "ZHOU", "CHAU"),
    "葉": ("YIP", "YE", "IP", "YEH"), "羅": ("LAW", "LUO", "LO", "LOH"), "蔡": ("CHOI", "CAI", "TSOI", "CHOY"),
    "郭": ("KWOK", "GUO", "KUOK", "KOK"), "馬": ("MA", "MAH", "MAR"), "麥": ("MAK", "MAI", "MACK"),
    "譚": ("TAM", "TAN", "TAAM"), "曾": ("TSANG", "ZENG", "TSENG", "CHANG"), "鍾": ("CHUNG", "ZHONG", "CHEUNG"),
    "楊": ("YEUNG", "YANG", "YOUNG"), "胡": ("WU", "HU", "WOO"), "朱": ("CHU", "ZHU", "CHOO"),
    "謝": ("TSE", "XIE", "CHE"), "許": ("HUI", "XU", "HSU"), "鄧": ("TANG", "DENG"), "馮": ("FUNG", "FENG"),
    "蘇": ("SO", "SU"), "盧": ("LO", "LU", "LOU"), "徐": ("TSUI", "XU", "CHUI"), "余": ("YU", "YUE"),
    "關": ("KWAN", "GUAN"), "袁": ("YUEN", "YUAN"), "孔": ("HUNG", "KONG"), "石": ("SHEK", "SHI"),
}
"""Common Hong Kong surnames and their Cantonese, pinyin and older spellings."""

COMPANY_WORDS: dict[str, str] = {
    "有限公司": "", "公司": "", "貿易": "TRADING", "物流": "LOGISTICS", "進出口": "IMPORT EXPORT",
    "電子": "ELECTRONICS", "海產": "SEAFOOD", "企業": "ENTERPRISE", "發展": "DEVELOPMENT", "貨運代理": "FORWARDING",
    "貨運服務": "FREIGHT SERVICES", "貨運": "FREIGHT", "控股": "HOLDINGS", "科技": "TECHNOLOGY", "實業": "INDUSTRIAL",
    "國際": "INTERNATIONAL", "供應鏈": "SUPPLY CHAIN", "食品": "FOOD", "珠寶": "JEWELLERY", "運輸": "TRANSPORTATION",
    "報關": "CUSTOMS BROKERAGE", "船務代理": "SHIPPING AGENCY", "集團": "GROUP", "工業": "INDUSTRIES",
}
"""Chinese company words and legal forms with their usual English rendering (longest first when applied)."""

BRAND_SYLLABLES: dict[str, str] = {
    "永": "WING", "發": "FAT", "德": "TAK", "成": "SHING", "恒": "HANG", "豐": "FUNG", "廣": "KWONG", "興": "HING",
    "新": "SUN", "華": "WAH", "記": "KEE", "合": "HOP", "益": "YICK", "金": "KAM", "龍": "LUNG", "福": "FOOK",
    "源": "YUEN", "萬": "MAN", "利": "LEE", "中": "CHUNG", "海": "HOI", "天": "TIN", "信": "SHUN", "大": "TAI",
    "生": "SANG", "昌": "CHEONG", "泰": "TAI", "隆": "LUNG", "寶": "PO", "安": "ON", "富": "FU", "祥": "CHEUNG",
}
"""Characters common in Hong Kong trade names and their Cantonese romanisation (``永發`` = ``Wing Fat``)."""

ABBREVIATIONS: dict[str, str] = {
    "TRDG": "TRADING", "INTL": "INTERNATIONAL", "INT L": "INTERNATIONAL", "IMP": "IMPORT", "EXP": "EXPORT",
    "DEV": "DEVELOPMENT", "ENT": "ENTERPRISE", "LOGISTIC": "LOGISTICS", "TECH": "TECHNOLOGY", "HLDGS": "HOLDINGS",
    "TRANSPORT": "TRANSPORTATION", "INDUS": "INDUSTRIAL", "ELEC": "ELECTRONICS", "MFG": "MANUFACTURING",
}
LEGAL_FORMS = frozenset({"CO", "COMPANY", "LTD", "LIMITED", "CORP", "CORPORATION", "INC", "PTY", "LLC", "AND"})
COMPANY_MARKERS = frozenset({"CO", "COMPANY", "LTD", "LIMITED", "CORP", "INC", "TRADING", "LOGISTICS", "HOLDINGS"})

_SURNAME_KEYS: dict[str, frozenset[str]] = {}
for _zh, _spellings in SURNAME_ROMANISATIONS.items():
    for _s in _spellings:
        _SURNAME_KEYS[_s] = _SURNAME_KEYS.get(_s, frozenset()) | {_zh}
_HAN = re.compile(r"[\u3400-\u9fff]")
_COMPANY_WORDS_LONGEST = sorted(COMPANY_WORDS, key=len, reverse=True)


def has_han(text: str | None) -> bool:
    """True when the text holds Chinese characters (a Chinese-written name)."""
    return bool(text) and bool(_HAN.search(text or ""))


def tokens(text: str | None) -> list[str]:
    """Upper-case ASCII word tokens; accents folded, punctuation dropped, ``Int'l`` kept as ``INTL``."""
    if not text:
        return []
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    folded = re.sub(r"['.’]", "", folded)
    return re.findall(r"[A-Z0-9]+", folded)


def looks_like_company(text: str | None) -> bool:
    """Whether a free-text owner name is a company (legal form or trade word) rather than a person."""
    if not text:
        return False
    if has_han(text):
        return "公司" in text or any(w in text for w in COMPANY_WORDS if w)
    return bool(COMPANY_MARKERS & set(tokens(text)))


def translate_company_zh(text: str) -> str:
    """A Chinese company name in English words: trade words translated, brand characters romanised."""
    out = text
    for word in _COMPANY_WORDS_LONGEST:
        out = out.replace(word, f" {COMPANY_WORDS[word]} ")
    out = "".join(f" {BRAND_SYLLABLES.get(ch, ch)} " if _HAN.match(ch) else ch for ch in out)
    return " ".join(out.split())


def company_key(name: str | None) -> str:
    """Canonical English key of a company name: abbreviations expanded, legal forms dropped.

    ``Wing Fat Trdg Co., Ltd`` and ``永發貿易有限公司`` both give ``WING FAT TRADING``.
    """
    if not name:
        return ""
    text = name
    if has_han(name):
        text = translate_company_zh(name)
        if has_han(text):  # a brand we cannot render: no key rather than a misleading partial one
            return ""
    text = re.sub(r"&", " AND ", text)
    words = [ABBREVIATIONS.get(t, t) for t in tokens(text)]
    return " ".join(w for w in " ".join(words).split() if w not in LEGAL_FORMS)


def split_person(name: str) -> tuple[str, list[str]]:
    """(surname token, given tokens) by Hong Kong writing conventions.

    ``CHAN, Tai Man`` and ``CHAN Tai Man`` put the surname first (before the comma, or the
    one capitalised word); ``CHAN TAI MAN`` is surname first too; ``Tai Man Chan`` (mixed
    case throughout) puts it last. Order swaps are the commonest variant, so this matters
    more than spelling.
    """
    words = re.findall(r"[^\s,\-]+", name)
    parts = tokens(name)
    if not parts:
        return "", []
    if "," in name:
        head = tokens(name.split(",", 1)[0])
        return (head[0] if head else ""), parts[len(head):]
    if words and words[0].isupper() and (len(words[0]) > 1 or all(w.isupper() for w in words)):
        return parts[0], parts[1:]
    return parts[-1], parts[:-1]


def surname_keys(name: str | None) -> list[str]:
    """The Chinese surnames a written person name may stand for (``WONG`` may be 黃 or 王)."""
    if not name:
        return []
    if has_han(name):
        first = name.strip()[0]
        return [first] if first in SURNAME_ROMANISATIONS else []
    surname, _ = split_person(name)
    return sorted(_SURNAME_KEYS.get(surname, frozenset()))


def person_key(name: str | None) -> str:
    """Order-free key of a person's given name: ``CHAN Tai Man`` and ``Tai-Man Chen`` both give ``MAN TAI``.

    The surname is compared separately through ``surname_keys``, so romanisation variants of
    it do not count as a difference.
    """
    if not name or has_han(name):
        return ""
    _, given = split_person(name)
    return " ".join(sorted(given))

"""Name evidence for entity resolution, from general usage: readings, company words, romanisation.

Source systems write one company or person many ways: ``Wing Fat Trdg Co., Ltd``,
``WING FAT TRADING COMPANY LIMITED``, ``永發貿易有限公司``, ``永发贸易有限公司``;
``CHAN Tai-man``, ``Tai Man Chan``, ``陳大文``. String distance alone scores ``貿易``
against ``Trading`` as nothing, so every name is parsed into

- **trade words**, canonical English tokens for the words and legal forms of company
  names in both languages (``貿易`` = ``Trdg`` = ``TRADING``); legal forms (``Limited``,
  ``有限公司``) and Hong Kong as a place (``(HK)``, ``(香港)``) carry no identity and are dropped;
- **brand tokens**, the distinctive rest. Chinese characters are read aloud twice, in
  Cantonese (Jyutping from ToJyutping, written in the Hong Kong Government's romanisation,
  as Hong Kong companies and people spell their English names) and in Mandarin (pypinyin,
  as mainland names are spelled); every romanised token then goes through ``fold``, which
  collapses the spelling variants of one sound (``Tsang``/``Chang``, ``Lee``/``Li``,
  ``Fook``/``Fuk``, pinyin ``zh``/``x``), so ``CHAN``, ``CHEN`` and ``陳`` meet.

Nothing here is read from the demo generator or from truth tables: the word lists are
general Hong Kong business usage, the readings come from the two libraries' dictionaries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z0-9]+")

TRADE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # canonical token: (English spellings and abbreviations, Chinese words in traditional and simplified)
    "TRADING": (("TRADING", "TRADE", "TRADERS", "TRDG", "TRD", "TRDNG"), ("貿易", "贸易", "商貿", "商贸", "商行")),
    "IMPORT": (("IMPORT", "IMPORTS", "IMP", "IMPORTERS"), ("進口", "进口")),
    "EXPORT": (("EXPORT", "EXPORTS", "EXP", "EXPORTERS"), ("出口",)),
    "INTERNATIONAL": (("INTERNATIONAL", "INTL", "INTER", "INT"), ("國際", "国际")),
    "LOGISTICS": (("LOGISTICS", "LOGISTIC", "LOG"), ("物流",)),
    "FREIGHT": (("FREIGHT", "FRT", "CARGO"), ("貨運", "货运", "貨物", "货物")),
    "FORWARDING": (("FORWARDING", "FORWARDERS", "FWDG", "FWD"), ("貨運代理", "货运代理", "代運", "代运")),
    "SHIPPING": (("SHIPPING", "SHPG", "MARINE"), ("船務", "船务", "航運", "航运")),
    "TRANSPORT": (("TRANSPORT", "TRANSPORTATION", "TPT", "TRANS"), ("運輸", "运输")),
    "EXPRESS": (("EXPRESS", "COURIER"), ("速遞", "速递", "快遞", "快递")),
    "ENTERPRISE": (("ENTERPRISE", "ENTERPRISES", "ENT", "ENTS"), ("企業", "企业")),
    "DEVELOPMENT": (("DEVELOPMENT", "DEVELOPMENTS", "DEV", "DEVT"), ("發展", "发展")),
    "INDUSTRIAL": (("INDUSTRIAL", "INDUSTRIES", "INDUSTRY", "IND", "INDS", "INDUS"), ("實業", "实业", "工業", "工业")),
    "HOLDINGS": (("HOLDINGS", "HOLDING", "HLDGS", "HLDG"), ("控股",)),
    "INVESTMENT": (("INVESTMENT", "INVESTMENTS", "INV"), ("投資", "投资")),
    "GROUP": (("GROUP", "GRP"), ("集團", "集团")),
    "TECHNOLOGY": (("TECHNOLOGY", "TECHNOLOGIES", "TECH"), ("科技", "技術", "技术")),
    "ELECTRONICS": (("ELECTRONICS", "ELECTRONIC", "ELEC", "ELECT"), ("電子", "电子")),
    "ELECTRICAL": (("ELECTRICAL", "APPLIANCES"), ("電器", "电器")),
    "MANUFACTURING": (("MANUFACTURING", "MFG", "MANUFACTURERS", "MFRS"), ("製造", "制造")),
    "FOOD": (("FOOD", "FOODS", "FOODSTUFF", "FOODSTUFFS"), ("食品",)),
    "SEAFOOD": (("SEAFOOD", "SEAFOODS", "MARINE PRODUCTS"), ("海產", "海产", "海鮮", "海鲜", "水產", "水产")),
    "JEWELLERY": (("JEWELLERY", "JEWELRY", "JEWELLERS", "JEWELERS", "JEWEL"), ("珠寶", "珠宝")),
    "WATCH": (("WATCH", "WATCHES", "CLOCKS"), ("鐘錶", "钟表", "錶行", "表行")),
    "GARMENT": (("GARMENT", "GARMENTS", "FASHION", "APPAREL"), ("製衣", "制衣", "服裝", "服装", "時裝", "时装")),
    "TEXTILE": (("TEXTILE", "TEXTILES", "KNITTING"), ("紡織", "纺织", "針織", "针织")),
    "CHEMICAL": (("CHEMICAL", "CHEMICALS", "CHEM"), ("化工",)),
    "HARDWARE": (("HARDWARE",), ("五金",)),
    "METAL": (("METAL", "METALS"), ("金屬", "金属")),
    "PLASTIC": (("PLASTIC", "PLASTICS"), ("塑膠", "塑胶", "塑料")),
    "PRINTING": (("PRINTING",), ("印刷",)),
    "PAPER": (("PAPER",), ("紙業", "纸业", "紙品", "纸品")),
    "PHARMACEUTICAL": (("PHARMACEUTICAL", "PHARMACEUTICALS", "PHARMA", "PHARM"), ("藥業", "药业", "製藥", "制药", "醫藥", "医药")),
    "MEDICAL": (("MEDICAL",), ("醫療", "医疗")),
    "ENGINEERING": (("ENGINEERING", "ENGG", "ENG"), ("工程",)),
    "CONSTRUCTION": (("CONSTRUCTION",), ("建築", "建筑", "建設", "建设")),
    "SERVICES": (("SERVICES", "SERVICE", "SVCS", "SVC"), ("服務", "服务")),
    "MANAGEMENT": (("MANAGEMENT", "MGMT"), ("管理",)),
    "AGENCY": (("AGENCY", "AGENCIES", "AGENTS", "AGENT"), ("代理",)),
    "SUPPLY": (("SUPPLY", "SUPPLIES", "SUPPLIERS"), ("供應", "供应")),
    "CHAIN": (("CHAIN",), ("鏈", "链")),
    "WAREHOUSE": (("WAREHOUSE", "WAREHOUSING", "GODOWN", "STORAGE"), ("倉庫", "仓库", "倉儲", "仓储", "貨倉", "货仓")),
    "CUSTOMS": (("CUSTOMS",), ("報關", "报关")),
    "BROKERAGE": (("BROKERAGE", "BROKERS", "BROKER"), ("經紀", "经纪")),
    "MOTOR": (("MOTOR", "MOTORS", "AUTO", "AUTOMOBILE"), ("汽車", "汽车")),
    "WINE": (("WINE", "WINES", "LIQUOR", "SPIRITS"), ("酒業", "酒业", "洋酒", "酒行")),
    "TOBACCO": (("TOBACCO",), ("煙草", "烟草")),
    "COSMETICS": (("COSMETICS", "COSMETIC", "BEAUTY"), ("化妝品", "化妆品", "美容")),
    "TOYS": (("TOYS", "TOY"), ("玩具",)),
    "FURNITURE": (("FURNITURE",), ("傢俬", "家私", "傢具", "家具")),
    "TRAVEL": (("TRAVEL", "TOURS"), ("旅遊", "旅游", "旅行社")),
    "MARKETING": (("MARKETING", "MKTG"), ("市場推廣", "市场推广")),
    "DISTRIBUTION": (("DISTRIBUTION", "DISTRIBUTORS", "DIST"), ("分銷", "分销")),
    "BROTHERS": (("BROTHERS", "BROS"), ("兄弟",)),
    "CENTRE": (("CENTRE", "CENTER", "CTR"), ("中心",)),
    "BANK": (("BANK",), ("銀行", "银行")),
    "HONG": (("HONG",), ("洋行",)),
}
"""Words of company names that say what a company does, not which one it is (general business usage)."""

LEGAL_FORMS_EN = frozenset({
    "LIMITED", "LTD", "CO", "COMPANY", "CORP", "CORPORATION", "INC", "INCORPORATED", "PLC", "LLC", "LLP", "PTE",
    "PTY", "GMBH", "SDN", "BHD", "KK", "LDA", "LTDA", "SA", "SARL", "SRL", "BV", "AG", "JSC", "PVT", "THE", "AND",
    "OF", "HK", "HONGKONG", "FACTORY", "FTY", "WORKS", "PRODUCTS", "PRODUCT", "PRODS",
})
"""Legal forms, connectives, fillers (factory, works, products) and the home place: nothing an entity is told apart by."""
LEGAL_FORMS_ZH = ("股份有限公司", "有限責任公司", "有限责任公司", "有限公司", "公司", "(香港)", "（香港）", "香港",
                  "製品", "制品", "產品", "产品", "廠", "厂")
COMPANY_MARKERS_ZH = ("公司", "行", "廠", "厂", "集團", "集团")

_EN_TRADE = {spelling: canon for canon, (spellings, _) in TRADE_WORDS.items() for spelling in spellings}
_ZH_TRADE = sorted(((word, canon) for canon, (_, words) in TRADE_WORDS.items() for word in words),
                   key=lambda item: -len(item[0]))
_COMPOUND_SURNAMES = ("歐陽", "欧阳", "司徒", "上官", "諸葛", "诸葛", "司馬", "司马", "東方", "东方", "公孫", "公孙", "夏侯", "慕容", "尉遲")

# Jyutping -> Hong Kong Government Cantonese Romanisation (the spelling of HK identity cards
# and company registrations): initials and finals as the government writes them.
_JP_INITIALS = {"b": "P", "p": "P", "m": "M", "f": "F", "d": "T", "t": "T", "n": "N", "l": "L", "g": "K", "k": "K",
                "ng": "NG", "h": "H", "gw": "KW", "kw": "KW", "w": "W", "z": "CH", "c": "CH", "s": "S", "j": "Y", "": ""}
_JP_FINALS = {
    "aa": "A", "aai": "AI", "aau": "AU", "aam": "AAM", "aan": "AN", "aang": "ANG", "aap": "AP", "aat": "AT", "aak": "AK",
    "a": "A", "ai": "AI", "au": "AU", "am": "AM", "an": "AN", "ang": "ANG", "ap": "AP", "at": "AT", "ak": "AK",
    "e": "E", "ei": "EI", "eu": "EU", "em": "EM", "eng": "ENG", "ep": "EP", "ek": "EK",
    "i": "I", "iu": "IU", "im": "IM", "in": "IN", "ing": "ING", "ip": "IP", "it": "IT", "ik": "IK",
    "o": "O", "oi": "OI", "ou": "O", "on": "ON", "ong": "ONG", "ot": "OT", "ok": "OK",
    "u": "U", "ui": "UI", "un": "UN", "ung": "UNG", "ut": "UT", "uk": "UK",
    "oe": "OE", "oeng": "EUNG", "oek": "EUK", "eoi": "UI", "eon": "UN", "eot": "UT",
    "yu": "U", "yun": "UEN", "yut": "UET", "m": "M", "ng": "NG",
}
_JP_SYLLABLE = re.compile(r"^(ng|gw|kw|[bpmfdtnlgkhwzcsj]?)([a-z]+?)([1-6])?$")

_FOLDS = (
    (re.compile(r"TSZ|TSE(?=$)"), "CHI"), (re.compile(r"^SZE$|^SZ"), "SI"), (re.compile(r"TS|TZ|ZH|DZ"), "CH"),
    (re.compile(r"SH"), "S"), (re.compile(r"^C(?=[AEIOUY])"), "CH"), (re.compile(r"Z"), "CH"), (re.compile(r"X"), "S"),
    (re.compile(r"Q"), "CH"), (re.compile(r"^J"), "CH"), (re.compile(r"B"), "P"), (re.compile(r"D"), "T"),
    (re.compile(r"(?<!N)G"), "K"), (re.compile(r"OO"), "U"), (re.compile(r"EE|EI$|Y$"), "I"),
    (re.compile(r"IONG|EONG"), "EUNG"), (re.compile(r"(?<=[AEIOU])H$"), ""), (re.compile(r"(.)\1+"), r"\1"),
    (re.compile(r"^V"), "W"), (re.compile(r"CK"), "K"), (re.compile(r"(?<=[^AEIOU])U(?=[NM]$)"), "A"),
)


def fold(token: str) -> str:
    """One romanised token with spelling variants of the same sound collapsed.

    Hong Kong writes one Cantonese syllable several ways (``Tsang``/``Chang``, ``Lee``/``Li``,
    ``Fook``/``Fuk``, ``Cheong``/``Cheung``, ``Loh``/``Lo``, ``Sun``/``San`` for 新) and mainland names use pinyin
    (``zh``, ``x``, ``q``, voiced ``b``/``d``/``g``); the same collapse is applied to every side
    of a comparison, so it only needs to be consistent, not a spelling anyone writes.
    """
    out = token.upper()
    for pattern, repl in _FOLDS:
        out = pattern.sub(repl, out)
    return out


def jyutping_to_hk(syllable: str) -> str:
    """A Jyutping syllable (``faat3``) in Hong Kong Government romanisation (``FAT``)."""
    match = _JP_SYLLABLE.match(syllable)
    if not match:
        return syllable.upper()
    initial, final, _ = match.groups()
    if final not in _JP_FINALS:  # e.g. an initial read as part of the final
        return syllable.rstrip("123456").upper()
    if initial == "j" and final.startswith(("yu", "i")):
        return "YU" + _JP_FINALS[final][1:] if final.startswith("yu") else "Y" + _JP_FINALS[final]
    return _JP_INITIALS[initial] + _JP_FINALS[final]


@lru_cache(maxsize=65536)
def cantonese(text: str) -> tuple[str, ...]:
    """Cantonese reading of Chinese characters, one HK-romanised syllable per character."""
    import ToJyutping

    return tuple(jyutping_to_hk(jp) if jp else ch for ch, jp in ToJyutping.get_jyutping_list(text))


@lru_cache(maxsize=65536)
def mandarin(text: str) -> tuple[str, ...]:
    """Mandarin reading (toneless pinyin), one syllable per character."""
    from pypinyin import lazy_pinyin

    return tuple(s.upper() for s in lazy_pinyin(text, errors="ignore"))


def has_han(text: str | None) -> bool:
    """True when the text holds Chinese characters (a Chinese-written name)."""
    return bool(text) and bool(_HAN.search(text or ""))


@dataclass(frozen=True)
class ParsedName:
    """One reading of a name: what the entity is called (brand) and what it does (trade words)."""

    brand: tuple[str, ...]
    trade: tuple[str, ...]
    company: bool
    reading: str  # "en", "yue" or "cmn"


def _ascii_tokens(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    folded = re.sub(r"(?<=[A-Z])['’.](?=[A-Z])", "", folded)  # INT'L -> INTL, H.K. -> HK
    folded = folded.replace("&", " AND ").replace("HONG KONG", "HK")
    return re.findall(r"[A-Z0-9]+", folded)


def parse_english(name: str) -> ParsedName:
    """Brand tokens and trade words of a name written in Latin letters."""
    brand: list[str] = []
    trade: list[str] = []
    company = False
    for token in _ascii_tokens(name):
        if token in LEGAL_FORMS_EN:
            company = company or token in {"LIMITED", "LTD", "CO", "COMPANY", "CORP", "CORPORATION", "INC", "FACTORY"}
        elif token in _EN_TRADE:
            trade.append(_EN_TRADE[token])
        else:
            brand.append(token)
    return ParsedName(tuple(brand), tuple(trade), company or bool(trade), "en")


def parse_chinese(name: str) -> tuple[ParsedName, ParsedName]:
    """Cantonese and Mandarin readings of a name written in Chinese characters (Latin runs kept as they are)."""
    text = unicodedata.normalize("NFKC", name).replace(" ", "")
    text = re.sub(r"^(\w{2,3}?)[市省]", r"\1", text)  # 深圳市華強 is written Shenzhen Huaqiang: the city's 市 is not spelled
    company = any(m in text for m in COMPANY_MARKERS_ZH)
    for form in LEGAL_FORMS_ZH:
        text = text.replace(form, " ")
    trade: list[tuple[int, str]] = []
    for word, canon in _ZH_TRADE:
        while (at := text.find(word)) >= 0:
            trade.append((at, canon))
            text = text[:at] + " " * len(word) + text[at + len(word):]
    trade_words = tuple(canon for _, canon in sorted(trade))
    readings = []
    for reading, reader in (("yue", cantonese), ("cmn", mandarin)):
        brand: list[str] = []
        for run in _HAN_RUN.findall(text):
            brand.extend(reader(run) if has_han(run) else _ascii_tokens(run))
        readings.append(ParsedName(tuple(brand), trade_words, company or bool(trade_words), reading))
    return readings[0], readings[1]


def parse(name: str | None) -> list[ParsedName]:
    """Every reading of a name: one for Latin script, Cantonese and Mandarin for Chinese."""
    if not name or not name.strip():
        return []
    return list(parse_chinese(name)) if has_han(name) else [parse_english(name)]


def looks_like_company(name: str | None) -> bool:
    """Whether a free-text name is a company (legal form or trade word) rather than a person."""
    return any(p.company for p in parse(name))


def split_surname(name: str) -> tuple[str, str]:
    """(surname, given) of a Chinese-written person name: the first character, or a known compound surname."""
    text = name.strip()
    size = 2 if text[:2] in _COMPOUND_SURNAMES else 1
    return text[:size], text[size:]


@dataclass(frozen=True)
class NameKeys:
    """Comparison keys of one record's names, one slot per reading (``None`` when it has none).

    ``key_*``: folded brand and trade tokens (person names sorted, word order differs between
    systems); ``brand_*``: folded brand tokens run together (``WINGFAT`` meets ``Wingfat``);
    ``trade``: the canonical trade words; ``tokens``: every folded brand token of any reading.
    """

    key_en: str | None
    key_yue: str | None
    key_cmn: str | None
    brand_en: str | None
    brand_yue: str | None
    brand_cmn: str | None
    trade: str | None
    tokens: list[str]
    company: bool


def name_keys(names: list[str | None], company: bool | None = None) -> NameKeys:
    """The keys of a record that may carry several names (an English and a Chinese one)."""
    parsed = [p for name in names for p in parse(name)]
    is_company = any(p.company for p in parsed) if company is None else company
    slots: dict[str, tuple[str, str]] = {}
    trade: set[str] = set()
    tokens: set[str] = set()
    for p in parsed:
        folded = [fold(t) for t in p.brand]
        trade.update(p.trade)
        tokens.update(folded)
        words = folded + list(p.trade) if is_company else sorted(folded)
        if p.reading not in slots and words:
            slots[p.reading] = (" ".join(words), "".join(folded))
    empty = (None, None)
    return NameKeys(
        *(slots.get(r, empty)[0] for r in ("en", "yue", "cmn")),
        *(slots.get(r, empty)[1] or None for r in ("en", "yue", "cmn")),
        " ".join(sorted(trade)) or None, sorted(tokens), is_company,
    )

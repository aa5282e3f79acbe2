"""Unstructured text with gold entity spans, topic and priority: intelligence notes, case
narratives, press releases and web articles, in English and Traditional Chinese.

Documents are assembled sentence by sentence from templates whose slots are filled with
the world's real entities (ring members most of the time), so the offsets of every
mention are known exactly and named-entity models can be scored against them. Each
document also gets the topic and triage priority a reader would give it from what the
text says (``document_topic``, ``triage_priority``), written to ``truth.document_labels``
to score report classifiers; nothing in the world's text depends on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from workbench.demo.batches import make_batch
from workbench.demo.config import Tag, WorldConfig
from workbench.demo.entities import VARIANTS_PER_SYSTEM, Population
from workbench.demo.identifiers import container_check_digit
from workbench.demo.vocabulary import COMMODITIES, CONTAINER_OWNERS, LOCATIONS, STREETS, WORLD_DAYS, WORLD_START
from workbench.lake.documents import Document as StoredDocument
from workbench.nlp.triage import PRIORITIES, TOPICS, triage_priority  # noqa: F401  (re-exported: the task's labels)
from workbench.reference.numerals import zh_numeral

EN_TEMPLATES = (
    "Intelligence indicates that {PERSON} of {ORG} is arranging shipments of {COMMODITY} through {LOCATION}.",
    "{PERSON} was seen meeting the driver of vehicle {PLATE} near {LOCATION}.",
    "Container {CONTAINER} declared by {ORG} was found to contain {COMMODITY}.",
    "The consignment arrived on board {VESSEL} and was cleared at {LOCATION}.",
    "Phone number {PHONE} is used by {PERSON} and is also listed for {ORG}.",
    "The estimated market value of the seized goods is about {MONEY}.",
    "{ORG} declared the goods as {COMMODITY} at a value well below comparable shipments.",
    "A source reports that {PERSON} controls several companies including {ORG}.",
    "Officers of the Customs and Excise Department intercepted vehicle {PLATE} at {LOCATION}.",
    "{PERSON} was arrested and is assisting the investigation.",
    "Payments totalling {MONEY} were carried in cash across the boundary by {PERSON}.",
    "The vessel {VESSEL} is believed to have carried {COMMODITY} for the syndicate.",
    "Customs officers inspected container {CONTAINER} at {LOCATION}.",
    "Hong Kong Customs seized about {N} of suspected smuggled {COMMODITY} with an estimated market value of about {MONEY}.",
    "The registered address of {ORG} in {LOCATION} is shared with at least two other trading companies.",
    "{PERSON} is listed as a director of {ORG}.",
    "Subscriber {PHONE} called the driver of {PLATE} several times before the crossing.",
    "Shipments of {COMMODITY} declared by {ORG} were split into small consignments on consecutive days.",
    "Records show that {PERSON} frequently crosses the boundary at {LOCATION}.",
    "According to a local news report, {ORG} was fined {MONEY} last year.",
    "The goods were concealed behind a legitimate load of {COMMODITY} on vehicle {PLATE}.",
    "Smuggling {COMMODITY} is a serious offence under the Import and Export Ordinance.",
    "{PERSON} and {PERSON2} are suspected of organising the shipments.",
    "The lorry {PLATE}, registered to {ORG}, was used on the route.",
    "The cargo manifest listed {VESSEL} arriving at {LOCATION}.",
    "Investigation is continuing and further arrests are not ruled out.",
)
ZH_TEMPLATES = (
    "情報顯示，{ORG}的{PERSON}經{LOCATION}安排運送{COMMODITY}。",
    "{PERSON}被發現在{LOCATION}附近與車牌{PLATE}的司機會面。",
    "{ORG}申報的貨櫃{CONTAINER}被發現藏有{COMMODITY}。",
    "該批貨物由{VESSEL}運抵，並於{LOCATION}清關。",
    "電話號碼{PHONE}由{PERSON}使用，亦登記於{ORG}名下。",
    "檢獲物品估計市值{MONEY}。",
    "{ORG}以遠低於同類貨物的價值申報{COMMODITY}。",
    "消息人士指{PERSON}控制多間公司，包括{ORG}。",
    "香港海關人員在{LOCATION}截查車牌{PLATE}的貨車。",
    "{PERSON}已被捕，正協助調查。",
    "{PERSON}以現金方式攜帶合共{MONEY}過境。",
    "相信{VESSEL}曾為集團運載{COMMODITY}。",
    "海關人員在{LOCATION}查驗貨櫃{CONTAINER}。",
    "香港海關檢獲約{N}懷疑走私{COMMODITY}，估計市值{MONEY}。",
    "{ORG}位於{LOCATION}的登記地址與至少兩間其他貿易公司相同。",
    "{PERSON}為{ORG}的董事。",
    "電話{PHONE}在過境前曾多次致電{PLATE}的司機。",
    "{ORG}申報的{COMMODITY}在連續數日被拆分為多批小額貨物。",
    "紀錄顯示{PERSON}經常經{LOCATION}過境。",
    "據本地新聞報道，{ORG}去年被罰款{MONEY}。",
    "貨物被藏於車牌{PLATE}貨車上一批合法的{COMMODITY}後面。",
    "走私{COMMODITY}屬違反《進出口條例》的嚴重罪行。",
    "{PERSON}及{PERSON2}涉嫌組織有關貨運。",
    "登記於{ORG}名下的貨車{PLATE}被用於該路線。",
    "艙單顯示{VESSEL}抵達{LOCATION}。",
    "案件仍在調查中，不排除有更多人被捕。",
)
_ARREST_SENTENCE = 9
"""Index (in both template lists) of the sentence reporting an arrest."""
_CASH_SENTENCE = 10
"""Index (in both template lists) of the sentence reporting cash carried across the boundary."""
COMMODITY_TOPICS: dict[str, str] = {
    "29223900": "drugs", "29397100": "drugs",
    "24022000": "tobacco", "24031900": "tobacco",
    "05071000": "endangered_species", "05079000": "endangered_species", "01062000": "endangered_species",
    "27101900": "fuel", "27111200": "fuel",
    "42022100": "counterfeit", "91021100": "counterfeit", "91011100": "counterfeit", "33030000": "counterfeit",
    "33049900": "counterfeit", "64041100": "counterfeit", "85183000": "counterfeit",
}
"""HS code -> report topic; goods not listed are ``other``. The counterfeit codes are the
branded goods that make up nearly all intellectual-property seizures (bags, watches,
perfume, cosmetics, trainers, earphones)."""
def document_topic(hs_code: str, mentions_cash_run: bool) -> str:
    """The goods decide the topic; a report on ordinary goods that tells of cash carried across is ``cash``."""
    topic = COMMODITY_TOPICS.get(hs_code, "other")
    return "cash" if topic == "other" and mentions_cash_run else topic


KINDS = ("intel_note", "case_narrative", "press_release", "web_article")
_SOURCES = {"intel_note": "CIRMS intelligence", "case_narrative": "CPS", "press_release": "www.customs.gov.hk",
            "web_article": "hk-trade-news.example"}
_TITLES = {
    ("intel_note", "en"): "Intelligence note: {org}", ("intel_note", "zh"): "情報摘要：{org}",
    ("case_narrative", "en"): "Case narrative: {commodity}", ("case_narrative", "zh"): "案件撮要：{commodity}",
    ("press_release", "en"): "Hong Kong Customs seizes suspected smuggled {commodity}",
    ("press_release", "zh"): "香港海關檢獲懷疑走私{commodity}",
    ("web_article", "en"): "Trading firm {org} linked to smuggling probe", ("web_article", "zh"): "{org}涉走私案受查",
}
_SLOT = re.compile(r"\{([A-Z]+?)(\d?)\}")
def money_en(amount: float) -> str:
    if amount >= 1e9:
        return f"HK${amount / 1e9:.1f} billion"
    if amount >= 1e6:
        return f"HK${amount / 1e6:.1f} million"
    return f"HK${round(amount, -3):,.0f}"


def money_zh(amount: float, rng: np.random.Generator) -> str:
    """Amounts as HK press writes them: 約三百二十萬港元, 四億元, 八十五萬元."""
    wan = int(float(f"{amount / 1e4:.2g}"))
    yi, rest = divmod(wan, 10_000)
    text = (zh_numeral(yi) + "億" if yi else "") + (zh_numeral(rest) + "萬" if rest else "")
    return ("約" if rng.random() < 0.5 else "") + (text or "一萬") + ("港元" if rng.random() < 0.5 else "元")


@dataclass(frozen=True)
class Document(StoredDocument):
    """A generated document (as the documents zone stores it), its gold entity spans
    ``(start, end, label, text)``, its topic and its triage priority."""

    spans: list[tuple[int, int, str, str]] = field(default_factory=list)
    topic: str = "other"
    priority: str = "low"


def render(sentences: list[str], values: dict[str, tuple[str, str | None]], joiner: str) -> tuple[str, list[tuple[int, int, str, str]]]:
    """Fill templates; ``values`` maps slot name to (text, label or None). Returns text and spans."""
    parts: list[str] = []
    spans: list[tuple[int, int, str, str]] = []
    length = 0
    for i, sentence in enumerate(sentences):
        if i:
            parts.append(joiner)
            length += len(joiner)
        pos = 0
        for m in _SLOT.finditer(sentence):
            literal = sentence[pos : m.start()]
            parts.append(literal)
            length += len(literal)
            text, label = values[m.group(1) + m.group(2)]
            if label:
                spans.append((length, length + len(text), label, text))
            parts.append(text)
            length += len(text)
            pos = m.end()
        parts.append(sentence[pos:])
        length += len(sentence) - pos
    return "".join(parts), spans


def _container(rng: np.random.Generator) -> str:
    prefix = f"{CONTAINER_OWNERS[int(rng.integers(0, len(CONTAINER_OWNERS)))]}{rng.integers(0, 1_000_000):06d}"
    return f"{prefix}{container_check_digit(prefix)}"


def generate_documents(cfg: WorldConfig, pop: Population) -> list[Document]:
    """All documents of the world, most about ring members, some about ordinary traders."""
    rng = cfg.rng(Tag.DOCUMENTS)
    plates = pop.vehicles.column("plate").to_pylist()
    mainland_plates = pop.vehicles.column("mainland_plate").to_pylist()
    phones = pop.traders.column("phone").to_pylist()
    vessels = [v for v, imo in zip(pop.vessels.column("name").to_pylist(), pop.vessels.column("imo_number").to_pylist()) if imo]
    variants = pop.person_variants["cps"]
    docs: list[Document] = []
    for i in range(cfg.n_documents):
        language = "en" if rng.random() < 0.55 else "zh"
        kind = KINDS[int(rng.choice(4, p=[0.4, 0.2, 0.2, 0.2]))]
        if rng.random() < 0.65:
            ring = pop.rings[int(rng.integers(0, len(pop.rings)))]
            trader = int(rng.choice(ring.traders))
            other = int(rng.choice(ring.people))
            vehicle = int(rng.choice(ring.vehicles))
            phone = str(rng.choice(ring.phones))
            goods = int(rng.choice(ring.goods[ring.schemes[0]]))
        else:
            trader = int(rng.integers(0, len(pop.trader_names)))
            other = int(rng.integers(0, len(pop.person_names)))
            vehicle = int(rng.integers(0, len(plates)))
            phone = phones[trader]
            goods = int(rng.integers(0, len(COMMODITIES)))
        person = int(pop.trader_director[trader])
        zh = language == "zh"

        def person_text(p: int) -> str:
            if zh and rng.random() < 0.7:
                return pop.person_names[p].zh
            written = variants[p * VARIANTS_PER_SYSTEM + int(rng.integers(0, VARIANTS_PER_SYSTEM))].as_py()
            return written if rng.random() < 0.5 and written.isascii() else pop.person_names[p].en

        name_en, name_zh = pop.trader_names[trader]
        org = name_zh if zh and rng.random() < 0.8 else name_en
        location = LOCATIONS[int(rng.integers(0, len(LOCATIONS)))] if rng.random() < 0.7 else None
        street = STREETS[int(rng.integers(0, len(STREETS)))]
        place = (location.name_zh if zh else location.name_en) if location else (street.district_zh if zh else street.district_en)
        c = COMMODITIES[goods]
        weight = int(rng.lognormal(np.log(800), 0.8)) + 1
        amount = max(10_000.0, weight * c.hkd_per_kg * float(rng.uniform(0.8, 1.6)))
        values = {
            "PERSON": (person_text(person), "PERSON"),
            "PERSON2": (person_text(other if other != person else (person + 1) % len(pop.person_names)), "PERSON"),
            "ORG": (org, "ORG"),
            "LOCATION": (place, "LOCATION"),
            "VESSEL": (str(rng.choice(vessels)) if vessels else "OOCL HONG KONG", "VESSEL"),
            "PLATE": (plates[vehicle] if rng.random() < 0.8 else mainland_plates[vehicle], "PLATE"),
            "CONTAINER": (_container(rng), "CONTAINER"),
            "PHONE": (phone, "PHONE"),
            "COMMODITY": (c.desc_zh if zh else c.desc_en.lower() if c.desc_en[1:].islower() else c.desc_en, "COMMODITY"),
            "MONEY": (money_zh(amount, rng) if zh else money_en(amount), "MONEY"),
            "N": (f"{weight}公斤" if zh else f"{weight:,} kg", None),
        }
        templates = ZH_TEMPLATES if zh else EN_TEMPLATES
        count = int(rng.integers(3, 7))
        chosen = [int(t) for t in rng.choice(len(templates), count, replace=False)]
        if kind == "press_release":
            chosen = [13] + [t for t in chosen if t != 13][: count - 1]
        shown = [templates[t] for t in chosen]
        text, spans = render(shown, values, "" if zh else " ")
        title = _TITLES[(kind, language)].format(org=org, commodity=values["COMMODITY"][0])
        topic = document_topic(c.hs_code, _CASH_SENTENCE in chosen)
        priority = triage_priority(topic, amount if any("{MONEY}" in t for t in shown) else None,
                                   _ARREST_SENTENCE in chosen)
        published = datetime.combine(WORLD_START, datetime.min.time()) + timedelta(
            days=int(rng.integers(0, WORLD_DAYS)), seconds=int(rng.integers(0, 86_400)))
        docs.append(Document(doc_id=f"DOC{i + 1:06d}", kind=kind, language=language, title=title,
                             source=_SOURCES[kind], published_at=published, text=text, spans=spans,
                             topic=topic, priority=priority))
    return docs


def document_labels_batch(docs: list[Document]) -> pa.RecordBatch:
    """``truth.document_labels``: each document's topic and triage priority, for scoring classifiers only."""
    return make_batch("truth.document_labels", {
        "doc_id": [d.doc_id for d in docs], "topic": [d.topic for d in docs], "priority": [d.priority for d in docs],
    })

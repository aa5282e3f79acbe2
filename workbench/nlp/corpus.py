"""The NLP package's own labelled training corpus, in English and Traditional Chinese.

Why a generator of our own: the synthetic world's documents (``workbench.demo``) and their
gold spans exist to *score* the extractor; training on them, even on a held-out split,
teaches the model the world's sentence frames and names and over-states its quality. This
module writes documents from its own templates and the general vocabulary of
``workbench.nlp.vocabulary``; it never imports the generator.

What a tagger has to read in real reports, and so what the corpus varies on purpose:

- sentence shapes of press releases, court reports, seizure and detention notices,
  shipping notices, intelligence notes and open-source posts (forum and chat English,
  written Cantonese), as running text, headed notes, numbered lists and run-on lines;
- names nobody registered: ships with operator prefixes (``MV``, ``M.V.``, ``MT``), numbered
  hulls (``Xin Hai 18``), Chinese hull names in quotes (``「海龍號」``) and registration-style
  hulls (``粵中山貨1288``); people in Hong Kong romanisation (``Wong Kar-ho``, ``CHAN Tai Man``,
  ``CHEUNG, Ka Lok``), pinyin, nicknames (``Ah Keung``, ``肥仔明``) and foreign names; companies
  with and without legal forms; English names inside Chinese text (code-switching);
- amounts in figures and in words (``HK$1.2 million``, ``two million dollars``,
  ``約港幣一百二十萬元``, ``HK$50萬``), quantities in Chinese numerals that are *not* money,
  and goods with the words that qualify them.

Span conventions (the same as the hand-written evaluation set's, see
``benchmarks/data/ner_handwritten/README.md``): qualifiers of an amount (about, over,
約, 逾) and of a find (suspected, 懷疑), quantities and measure words stay outside the span;
descriptive words that say what the goods are (frozen, counterfeit, duty-not-paid, 冷藏,
冒牌, 未完稅) are inside; a ship's operator prefix is inside, the class noun (vessel,
貨輪) and quotes are outside; the enforcement agencies themselves (Customs, 香港海關) are not
tagged.

Each document has gold spans ``(start, end, label)`` (character offsets), a report topic
and a triage priority, so one corpus trains both the tagger and the report classifier.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench.nlp import vocabulary as V
from workbench.nlp.triage import TOPICS, triage_priority
from workbench.reference.identifiers import container_check_digit
from workbench.reference.numerals import en_words, zh_numeral

Spans = tuple[tuple[int, int, str], ...]


@dataclass(frozen=True)
class LabelledDocument:
    """A corpus document: text, gold entity spans ``(start, end, label)``, topic and priority."""

    doc_id: str
    language: str
    kind: str
    text: str
    spans: Spans
    topic: str
    priority: str


@dataclass(frozen=True)
class Value:
    """A slot's filling: ``before`` and ``after`` are untagged words around the tagged ``text``."""

    text: str
    before: str = ""
    after: str = ""



class _Values:
    """Draws entity values; every draw is a fresh value (a document keeps a cast of its own)."""

    def __init__(self, rng: random.Random, language: str, topic: str) -> None:
        self.rng, self.zh, self.topic = rng, language == "zh", topic

    def pick(self, pool):
        return pool[self.rng.randrange(len(pool))]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def _english(self) -> bool:
        """Whether a Chinese document writes this name in English (code-switching)."""
        return not self.zh or self.chance(0.12)

    # -- people -----------------------------------------------------------------------------------
    def person(self) -> Value:
        surname = self.pick(V.SURNAMES)
        if self.zh and not self._english():
            r = self.rng.random()
            if r < 0.06:
                return Value(self.pick(V.OTHER_PEOPLE_ZH))
            if r < 0.12:
                return Value(self.pick(V.NICKNAME_HEADS_ZH) + self.pick([g for g in V.GIVEN_ZH if len(g) == 2])[-1]
                             + ("" if self.chance(0.5) else "仔"))
            return Value(surname.zh + self.pick(V.GIVEN_ZH))
        r = self.rng.random()
        if r < 0.08:
            return Value(self.pick(V.OTHER_PEOPLE))
        if r < 0.13:
            return Value(f"{self.pick(V.NICKNAME_HEADS)} {self.pick(V.GIVEN_SYLLABLES)}")
        mainland = self.chance(0.2)
        family = surname.pinyin if mainland else self.pick(surname.cantonese)
        n = 1 if mainland and self.chance(0.5) or self.chance(0.1) else 2
        parts = [self.pick(V.GIVEN_PINYIN if mainland else V.GIVEN_SYLLABLES) for _ in range(n)]
        if mainland:
            return Value(self.pick([f"{family} {''.join(parts[:1]) + ''.join(p.lower() for p in parts[1:])}",
                                    f"{family.upper()} {''.join(parts[:1]) + ''.join(p.lower() for p in parts[1:])}",
                                    f"{parts[0]}{''.join(p.lower() for p in parts[1:])} {family}"]))
        hyphen = "-".join([parts[0]] + [p.lower() for p in parts[1:]])
        style = self.rng.randrange(9)
        return Value((f"{family} {hyphen}", f"{family.upper()} {' '.join(parts)}", f"{family.upper()} {hyphen}",
                      f"{family.upper()}, {' '.join(parts)}", f"{' '.join(parts)} {family.upper()}",
                      f"{self.pick(V.WESTERN_GIVEN)} {family.upper()} {hyphen}", f"{self.pick(V.WESTERN_GIVEN)} {family}",
                      f"{family} {' '.join(p[0] + '.' for p in parts)}", f"{family} {' '.join(parts)}")[style])

    # -- organisations ------------------------------------------------------------------------------
    def org(self) -> Value:
        if self.chance(0.08):
            en, zh = self.pick(V.BANKS)
            return Value(en if self._english() else zh)
        if self.chance(0.05):
            en, zh = self.pick(V.CARRIERS)
            return Value(en if self._english() else zh)
        word_en, word_zh = self.pick(V.ORG_WORDS)
        trade_en, trade_zh = self.pick(V.ORG_TRADES)
        if not self._english():
            place = self.pick(["", "", "", "香港", "深圳市"])
            return Value(place + word_zh + trade_zh + self.pick(V.ORG_FORMS_ZH))
        form = self.pick(V.ORG_FORMS_EN)
        name = f"{word_en} {trade_en}" + (f" {form}" if form else "")
        return Value(name.upper().replace(".", "") if self.chance(0.15) else name)

    # -- places ---------------------------------------------------------------------------------------
    def place(self) -> Value:
        en, zh = self.pick(V.PLACES)
        return Value(en if self._english() else zh)

    def control_point(self) -> Value:
        en, zh = self.pick(V.CONTROL_POINTS)
        return Value(en if self._english() else zh)

    def place_with_facility(self) -> Value:
        """A place followed by a generic facility word that stays outside the span (``Tai Po market``)."""
        place = self.place()
        en, zh = self.pick(V.FACILITIES)
        return Value(place.text, after=zh if self.zh else f" {en}")

    def court(self) -> Value:
        en, zh = self.pick(V.COURTS)
        return Value(en if self._english() else zh)

    def road(self) -> Value:
        en, zh = self.pick(V.ROADS)
        return Value(en if self._english() else zh)

    # -- vessels ----------------------------------------------------------------------------------------
    def vessel(self) -> Value:
        rng = self.rng
        if self.zh and not self._english():
            r = rng.random()
            if r < 0.3:
                name = f"{self.pick(V.HULL_REGIONS)}{self.pick(V.HULL_KINDS)}{rng.randint(1, 99999)}"
            else:
                stem = "".join(self.pick(V.VESSEL_ZH_CHARS) for _ in range(self.pick((1, 2, 2, 2, 3))))
                number = self.pick(["", "", str(rng.randint(1, 99)), zh_numeral(rng.randint(1, 12)) + "號",
                                    str(rng.randint(1, 999)) + "號"])
                name = stem + (number or "號")
            open_, close = self.pick([("「", "」"), ("「", "」"), ("“", "”"), ("", ""), ("『", "』")])
            return Value(name, open_, close)
        r = rng.random()
        if r < 0.35:
            words = [self.pick(V.VESSEL_PINYIN) for _ in range(self.pick((1, 2, 2, 3)))]
            if len(words) == 1:
                words.append(self.pick(V.VESSEL_PINYIN))
            number = f" {rng.randint(1, 999)}" if self.chance(0.7) else ""
            name = " ".join(words) + number
        else:
            name = f"{self.pick(V.VESSEL_WORDS_EN)} {self.pick(V.VESSEL_TAILS_EN)}"
            name += self.pick(["", "", "", f" {rng.randint(1, 99)}", f" No. {rng.randint(1, 12)}", " II"])
        if self.chance(0.4):
            name = name.upper()
        prefix = self.pick(V.VESSEL_PREFIXES)
        if prefix:
            return Value(f"{prefix} {name}")
        open_, close = self.pick([("", ""), ("", ""), ('"', '"'), ("'", "'")])
        return Value(name, open_, close)

    def vessel_class(self) -> str:
        en, zh = self.pick(V.VESSEL_CLASSES)
        return zh if self.zh else en

    # -- identifiers ---------------------------------------------------------------------------------------
    def plate(self) -> Value:
        rng = self.rng
        if self.chance(0.3):
            chars = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
            body = "".join(self.pick(chars) for _ in range(self.pick((4, 5))))
            city = self.pick("ZBSEAC")
            return Value(f"{self.pick('粤粵')}{city}{self.pick(['·', '', ' ', '.'])}{body}{self.pick(['港', '澳', ''])}")
        letters = "".join(self.pick("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(self.pick((1, 2, 2, 2))))
        return Value(f"{letters}{self.pick([' ', ' ', ''])}{rng.randint(1, 9999)}")

    def container(self) -> Value:
        owner = "".join(self.pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3)) + self.pick("UUUJZ")
        prefix = f"{owner}{self.rng.randrange(1_000_000):06d}"
        digit = container_check_digit(prefix)
        return Value(f"{prefix[:4]} {prefix[4:]} {digit}" if self.chance(0.15) else f"{prefix}{digit}")

    def phone(self) -> Value:
        if self.chance(0.25):
            n = f"1{self.rng.randint(3, 9)}{self.rng.randrange(10**9):09d}"
            return Value(self.pick([f"+86 {n}", f"+86-{n[:3]}-{n[3:7]}-{n[7:]}", f"+86{n}", f"+86 {n[:3]} {n[3:7]} {n[7:]}",
                                    f"{n[:3]} {n[3:7]} {n[7:]}"]))
        n = f"{self.pick('235679')}{self.rng.randrange(10**7):07d}"
        return Value(self.pick([f"+852 {n}", f"+852 {n[:4]} {n[4:]}", f"+852-{n}", f"852 {n}", f"{n[:4]} {n[4:]}",
                                f"{n[:4]} {n[4:]}", n, f"{n[:4]}-{n[4:]}", f"(852) {n[:4]} {n[4:]}"]))

    # -- goods ---------------------------------------------------------------------------------------------
    def goods(self, topic: str | None = None, cover: bool = False) -> Value:
        topic = topic or self.topic
        if cover:
            en, zh = self.pick(V.COVER_GOODS)
        else:
            en, zh = self.pick(V.GOODS.get(topic) or V.GOODS["other"])
            if self.chance(0.15) and not any(q in en for q, _ in V.GOODS_QUALIFIERS):
                q_en, q_zh = self.pick(V.GOODS_QUALIFIERS)
                en, zh = f"{q_en} {en}", q_zh + zh
        text = en if not self.zh or self.chance(0.06) else zh
        before = ""
        if not cover and self.chance(0.25):
            before = self.pick(["懷疑", "懷疑", "疑似", "懷疑走私"]) if self.zh else self.pick(
                ["suspected ", "suspected ", "smuggled ", "alleged "])
        return Value(text, before)

    def quantity(self) -> str:
        rng = self.rng
        if self.zh:
            n = rng.choice((rng.randint(2, 99), rng.randint(100, 9999), rng.randint(1, 300) * 1000))
            number = zh_numeral(n) if self.chance(0.5) else (f"{n:,}" if self.chance(0.5) else str(n))
            unit = self.pick(("公斤", "件", "箱", "支", "包", "瓶", "公噸", "隻", "粒", "盒", "部", "公升"))
            return self.pick(["", "", "約", "逾", "合共"]) + number + unit
        n = rng.choice((rng.randint(2, 900), rng.randint(1000, 90000)))
        unit = self.pick((" kg", " kilograms", " pieces", " cartons", " sticks", " bottles", " tonnes", " boxes",
                          " litres", " units", " packs"))
        number = en_words(n) if n < 1000 and self.chance(0.3) else f"{n:,}"
        return self.pick(["", "", "about ", "some ", "more than ", "approximately "]) + number + unit

    # -- money ---------------------------------------------------------------------------------------------
    def money(self, low: float, high: float) -> tuple[Value, float]:
        """An amount between 10**low and 10**high HKD, written as the press would; (value, HKD)."""
        amount = float(f"{10 ** self.rng.uniform(low, high):.2g}")
        qualifier = ""
        if self.chance(0.4):
            qualifier = self.pick(["約", "約", "逾", "近", "超過", "大約"]) if self.zh else self.pick(
                ["about ", "about ", "approximately ", "over ", "nearly ", "some ", "more than ", "around "])
        text = self._money_zh(amount) if self.zh and not self.chance(0.08) else self._money_en(amount)
        return Value(text, qualifier), amount

    def _money_en(self, amount: float) -> str:
        style = self.rng.randrange(8)
        sign = self.pick(["HK$", "HK$", "HK$", "$", "HKD "])
        if amount >= 1e6 and style < 3:
            unit, scale = ("billion", 1e9) if amount >= 1e9 else ("million", 1e6)
            return f"{sign}{amount / scale:g} {unit}" if style else f"{sign}{amount / scale:g}{unit[0]}"
        if style == 3 and amount < 1e8:
            other = self.pick([("US$", 7.8), ("RMB ", 1.08), ("USD ", 7.8), ("€", 8.5)])
            return f"{other[0]}{amount / other[1]:,.0f}"
        if style == 4:
            return self._money_words(amount)
        if style == 5 and self.zh:
            return f"{sign.strip()}{amount / 1e4:g}萬"
        return f"{sign}{amount:,.0f}"

    def _money_words(self, amount: float) -> str:
        """``two million dollars``, ``half a million Hong Kong dollars``, ``five thousand US dollars``."""
        currency = self.pick(["dollars", "dollars", "Hong Kong dollars", "US dollars", "yuan"])
        for scale, word in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
            if amount >= scale:
                n = amount / scale
                if n == 0.5 or (scale > 1e3 and 0.45 < n < 0.55):
                    return f"half a {word} {currency}"
                whole = int(round(n))
                number = en_words(whole) if whole < 1000 else f"{whole:,}"
                if n != whole and n < 100:
                    number = f"{n:g}"
                return f"{number} {word} {currency}"
        return f"{en_words(int(amount))} {currency}" if amount < 1000 else f"{amount:,.0f} {currency}"

    def _money_zh(self, amount: float) -> str:
        wan = int(amount // 1e4)
        style = self.rng.randrange(5)
        if wan == 0:
            body = f"{amount:,.0f}" if style < 3 else zh_numeral(int(amount))
        elif style == 0:
            body = f"{wan:,}萬"
        elif style == 1 and amount >= 1e8:
            body = f"{amount / 1e8:g}億"
        elif style == 2:
            body = f"{amount:,.0f}"
        else:
            body = zh_numeral(int(round(amount, -4)))
        currency = self.rng.random()
        if currency < 0.12:
            return f"人民幣{body}元"
        if currency < 0.2:
            return f"{body}{self.pick(['美元', '美金'])}"
        if currency < 0.45:
            return f"港幣{body}{self.pick(['元', '元', ''])}"
        return f"{body}{self.pick(['元', '港元', '港元', '元'])}"


# -- templates (this module's own) ------------------------------------------------------------------------

_SLOT = re.compile(r"\{([A-Z]+)(\d?)\}")
_LABELLED = {"PERSON": "PERSON", "ORG": "ORG", "BANK": "ORG", "LOC": "LOCATION", "CP": "LOCATION", "ROAD": "LOCATION",
             "LOCF": "LOCATION", "COURT": "LOCATION",
             "VESSEL": "VESSEL", "PLATE": "PLATE", "CONTAINER": "CONTAINER", "PHONE": "PHONE", "GOODS": "COMMODITY",
             "COVER": "COMMODITY", "VALUE": "MONEY", "FINE": "MONEY"}
# Slots: PERSON ORG BANK LOC CP (control point, port) ROAD COURT LOCF (a place + an untagged facility word) VESSEL
# VCLASS (vessel, 貨輪: untagged) PLATE CONTAINER PHONE GOODS COVER (goods declared as cover) VALUE FINE; untagged:
# QTY DATE AGE IMO CODENAME. A digit after a slot makes a second cast member.

_EN: dict[str, tuple[str, ...]] = {
    "press": (
        "An operation code-named \"{CODENAME}\" targeted {GOODS} sold at {LOCF} and in {LOC}.",
        "Officers seized {GOODS} at {LOCF} after a member of the public called {PHONE}.",
        "Customs officers seized {QTY} of {GOODS} with a market value estimated at {VALUE} at {CP} today.",
        "Hong Kong Customs on {DATE} detected a suspected smuggling case at {CP} and seized {GOODS} worth {VALUE}.",
        "In an operation against {GOODS}, officers raided a storeroom in {LOC} and arrested two men.",
        "A {AGE}-year-old man was arrested after officers found {QTY} of {GOODS} in his luggage at {CP}.",
        "The {GOODS}, declared as {COVER}, arrived in Hong Kong from {LOC} by sea.",
        "Customs mounted a joint operation with the mainland authorities and seized {GOODS} worth {VALUE} in {LOC}.",
        "The seized {GOODS}, weighing {QTY}, have an estimated market value of {VALUE}.",
        "Officers intercepted the {VCLASS} {VESSEL} off {LOC} and found {QTY} of {GOODS} on board.",
        "Customs reminds members of the public that smuggling is a serious offence; the maximum penalty is a fine of {FINE} and imprisonment for seven years.",
        "Investigation is ongoing and the possibility of further arrests is not ruled out.",
        "The arrested woman, aged {AGE}, has been released on bail pending further investigation.",
        "Customs seized {QTY} of {GOODS} and a vehicle, {PLATE}, in {LOC} on {DATE}.",
        "Through risk assessment, officers selected a container from {LOC} for inspection and found {GOODS} inside.",
        "The total value of the seizure is about {VALUE}, and the duty potential is {FINE}.",
        "Members of the public may report any suspected smuggling activities to the Customs 24-hour hotline {PHONE}.",
        "The case has been handed over to the Syndicate Crimes Investigation Bureau for follow-up.",
        "During an anti-smuggling operation at {LOC}, officers seized {GOODS} and {GOODS2} with a total value of {VALUE}.",
        "A passenger arriving from {LOC} was found with {QTY} of {GOODS} concealed in the lining of a suitcase.",
    ),
    "court": (
        "{PERSON} appeared at {COURT} charged with importing {GOODS}.",
        "At {COURT}, {ORG} was fined {FINE} for an inaccurate manifest of the {VESSEL}.",
        "{PERSON}, who lives near {LOCF}, was remanded in custody by {COURT}.",
        "{PERSON}, {AGE}, was sentenced to {AGE2} months' imprisonment for importing {GOODS}.",
        "The defendant, {PERSON}, pleaded guilty to possessing {GOODS} and was fined {FINE}.",
        "The court heard that {PERSON} had been paid {VALUE} to deliver the goods to {LOC}.",
        "{ORG} was convicted of lodging an inaccurate declaration and fined {FINE}.",
        "According to the prosecution, {PERSON} rented a flat in {LOC} to store {GOODS}.",
        "Counsel for {PERSON} told the magistrate that his client was a first offender.",
        "{PERSON} admitted that he drove lorry {PLATE} across the boundary {AGE2} times for {ORG}.",
        "The judge ordered that {VALUE} seized from {PERSON} be forfeited.",
        "{PERSON} and {PERSON2} were each jailed for {AGE2} months after trial.",
        "Prosecutors said the master of the {VESSEL}, {PERSON}, had falsified the cargo manifest.",
        "The magistrate adjourned the case and remanded {PERSON} in custody.",
        "In mitigation, {PERSON} said she had been promised {VALUE} by a man she met in {LOC}.",
        "The director of {ORG}, {PERSON}, was ordered to pay costs of {FINE}.",
        "{PERSON} denied knowing that the cartons contained {GOODS}.",
    ),
    "seizure": (
        "Found at {LOCF}: {QTY} of {GOODS}, owner {PERSON} (DOB {AGE}/{AGE2}/19{AGE3}).",
        "Seized: {QTY} {GOODS}; value {VALUE}; location {CP}.",
        "Detention notice issued to {ORG} in respect of container {CONTAINER}.",
        "Goods as declared: {COVER}. Goods found: {GOODS}.",
        "Vehicle {PLATE} was detained at {CP} with {QTY} of {GOODS} hidden under the floor.",
        "Exhibits: {GOODS} ({QTY}), two mobile phones ({PHONE}), one notebook.",
        "Container {CONTAINER}, shipped by {ORG} from {LOC}, contained {GOODS} behind a front load of {COVER}.",
        "Traveller {PERSON} was found carrying {VALUE} in cash without declaring it at {CP}.",
        "Item {AGE}: {GOODS}, found in the hold of the {VESSEL}.",
        "Declared value {FINE}; assessed value {VALUE}.",
        "Consignee: {ORG}; contact person: {PERSON}; tel {PHONE}.",
        "Cash seizure: {VALUE} in banknotes found on {PERSON} at {CP}.",
        "The driver of {PLATE} abandoned the van on {ROAD} and escaped on foot.",
    ),
    "shipping": (
        "{VESSEL} ({IMO}) sailed from {LOC} with {COVER} for {ORG}.",
        "Vessel name: {VESSEL}; IMO number: {IMO}; last port: {LOC}; agent: {ORG}.",
        "The crew of the {VCLASS} {VESSEL} landed the goods at {LOCF}.",
        "{VESSEL} is expected to arrive at {CP} on {DATE}, inbound from {LOC}.",
        "Arrival notice: vessel {VESSEL}, voyage {AGE}N, agent {ORG}.",
        "The {VCLASS} {VESSEL} transferred cargo to {VESSEL2} off {LOC} at night.",
        "Container {CONTAINER} will be discharged at {LOC} instead of {LOC2}.",
        "Shipper: {ORG}; consignee: {ORG2}; notify party: {PERSON}, tel {PHONE}.",
        "The {VCLASS} {VESSEL} left {LOC} without filing a manifest.",
        "Booking confirmed on {VESSEL} for {QTY} of {COVER}, port of loading {LOC}.",
        "Marine officers boarded the {VCLASS} {VESSEL} near {LOC} for a routine check.",
        "The manifest of {VESSEL} lists {GOODS} consigned to {ORG}.",
        "{VESSEL} called at {LOC} and {LOC2} before arriving in Hong Kong.",
        "Cargo: {COVER}; vessel: {VESSEL}; POL: {LOC}; POD: {LOC2}.",
        "The {VCLASS} {VESSEL} is owned by {ORG} and berths at {LOC}.",
    ),
    "osint": (
        "anyone at {LOCF} now? customs checking every car lol",
        "got {GOODS} from a guy at {LOCF}, {VALUE}, legit?",
        "heard the {VCLASS} {VESSEL} got searched at {LOCF} last night",
        "saw customs checking bags at {LOC} again, mostly {GOODS} lol",
        "anyone know where to get {GOODS} cheap in {LOC}? heard {ORG} sells them",
        "selling {GOODS}, brand new, pm or whatsapp {PHONE}",
        "{VESSEL} has been sitting off {LOC} for two days with no lights, weird",
        "job: drivers for cross-border runs, {VALUE} a day, call {PERSON} on {PHONE}",
        "my friend {PERSON} says {ORG} is just a front company",
        "lorry {PLATE} got searched near {CP} this morning, whole road blocked",
        "cheap {GOODS} from {LOC}, delivery to {LOC2} in 2 days, {VALUE} per box",
        "rumour: the {VCLASS} {VESSEL} carries {GOODS} every weekend",
        "omg customs at {CP} took my {GOODS}",
        "{PERSON} from {ORG} told me the parcels to {LOC} are stuck",
    ),
    "intel": (
        "{PERSON} meets couriers at {LOCF} every Tuesday; code name \"{CODENAME}\".",
        "The {VCLASS} {VESSEL} ({IMO}) is suspected of carrying {GOODS} to {LOC}.",
        "Subject {PERSON} is believed to use mobile {PHONE} while in {LOC}.",
        "Source reports that {PERSON} recruits couriers to carry {GOODS} through {CP}.",
        "Vehicle {PLATE}, owned by {ORG}, crossed at {CP} several times this week.",
        "A shipment of {GOODS} is expected on {VESSEL} next week.",
        "{PERSON} holds an account at {BANK} that received {VALUE} in three months.",
        "The group is said to be led by {PERSON}, a former driver for {ORG}.",
        "{ORG} and {ORG2} share an address in {LOC} and the phone number {PHONE}.",
        "Container {CONTAINER} was booked by the same forwarder as container {CONTAINER2}.",
        "Telephone analysis links {PHONE} to {PERSON} and to the hirer of {PLATE}.",
        "It is assessed that the syndicate moved at least {VALUE} through {LOC}.",
        "{PERSON}, alias {PERSON2}, is linked to {ORG} of {LOC}.",
        "Payment of {VALUE} was made from an account of {ORG} in {LOC}.",
        "Informant says {ORG} imports {GOODS} labelled as {COVER}.",
        "Surveillance shows {PERSON} meeting {PERSON2} outside a restaurant in {LOC}.",
    ),
}
_ZH: dict[str, tuple[str, ...]] = {
    "press": (
        "代號「{CODENAME}」的行動針對在{LOCF}及{LOC}出售的{GOODS}。",
        "市民致電{PHONE}舉報後，關員在{LOCF}檢獲{GOODS}。",
        "海關今日在{CP}檢獲{QTY}{GOODS}，估計市值{VALUE}。",
        "香港海關於{DATE}在{CP}偵破一宗懷疑走私案，檢獲值{VALUE}的{GOODS}。",
        "行動中，關員搜查{LOC}一個儲物倉，拘捕兩名男子。",
        "一名{AGE}歲男子在{CP}被發現行李內藏有{QTY}{GOODS}，隨即被捕。",
        "該批申報為{COVER}的{GOODS}由{LOC}經海路運抵香港。",
        "海關與內地執法部門展開聯合行動，在{LOC}檢獲值{VALUE}的{GOODS}。",
        "檢獲的{GOODS}重{QTY}，估計市值{VALUE}。",
        "關員在{LOC}對開截查{VCLASS}{VESSEL}，在船上發現{QTY}{GOODS}。",
        "走私屬嚴重罪行，最高刑罰為罰款{FINE}及監禁七年。",
        "調查工作仍在進行，不排除會有更多人被捕。",
        "被捕的{AGE}歲女子已獲准保釋候查。",
        "海關{DATE}在{LOC}檢獲{QTY}{GOODS}及一輛車牌{PLATE}的貨車。",
        "關員經風險評估後，選取一個由{LOC}抵港的貨櫃查驗，發現{GOODS}。",
        "檢獲物品總值{VALUE}，應課稅款{FINE}。",
        "市民可致電海關二十四小時熱線{PHONE}舉報懷疑走私活動。",
        "案件已交由海關有組織罪案調查科跟進。",
        "關員在{LOC}的反走私行動中檢獲{GOODS}及{GOODS2}，總值{VALUE}。",
        "一名由{LOC}抵港的旅客被發現行李箱夾層藏有{QTY}{GOODS}。",
    ),
    "court": (
        "{PERSON}在{COURT}被控輸入{GOODS}。",
        "{ORG}在{COURT}因{VESSEL}艙單失實被罰款{FINE}。",
        "住在{LOCF}附近的{PERSON}被{COURT}下令還押。",
        "{AGE}歲的{PERSON}因輸入{GOODS}被判入獄{AGE2}個月。",
        "被告{PERSON}承認管有{GOODS}，被罰款{FINE}。",
        "法庭得悉{PERSON}收取{VALUE}，負責把貨物送往{LOC}。",
        "{ORG}被裁定提交不準確報關單罪成，罰款{FINE}。",
        "控方指{PERSON}在{LOC}租用單位存放{GOODS}。",
        "{PERSON}的代表律師向裁判官表示，其當事人是初犯。",
        "{PERSON}承認曾為{ORG}駕駛貨車{PLATE}過境{AGE2}次。",
        "法官下令沒收從{PERSON}身上檢獲的{VALUE}。",
        "{PERSON}及{PERSON2}經審訊後各被判監{AGE2}個月。",
        "控方指{VESSEL}船長{PERSON}偽造艙單。",
        "裁判官把案件押後，{PERSON}須還押看管。",
        "{PERSON}求情時稱，一名在{LOC}認識的男子答應給她{VALUE}。",
        "{ORG}董事{PERSON}被命令支付訟費{FINE}。",
        "{PERSON}否認知道紙箱內有{GOODS}。",
    ),
    "seizure": (
        "在{LOCF}發現：{GOODS}{QTY}，物主{PERSON}。",
        "檢獲物品：{GOODS}{QTY}；價值{VALUE}；地點：{CP}。",
        "就貨櫃{CONTAINER}向{ORG}發出扣留通知書。",
        "申報貨物：{COVER}。實際貨物：{GOODS}。",
        "車輛{PLATE}在{CP}被扣留，車底藏有{QTY}{GOODS}。",
        "證物：{GOODS}（{QTY}）、手提電話兩部（{PHONE}）、記事簿一本。",
        "由{ORG}從{LOC}付運的貨櫃{CONTAINER}內，在一批{COVER}後藏有{GOODS}。",
        "旅客{PERSON}在{CP}被發現攜帶{VALUE}現金而沒有申報。",
        "第{AGE}項：{GOODS}，在{VESSEL}船艙內發現。",
        "申報價值{FINE}；評估價值{VALUE}。",
        "收貨人：{ORG}；聯絡人：{PERSON}；電話：{PHONE}。",
        "現金檢獲：在{CP}於{PERSON}身上發現{VALUE}鈔票。",
        "車牌{PLATE}的司機在{ROAD}棄車逃去。",
    ),
    "shipping": (
        "{VESSEL}（{IMO}）由{LOC}載運{COVER}，收貨人為{ORG}。",
        "船名：{VESSEL}；IMO編號：{IMO}；上一個港口：{LOC}；代理：{ORG}。",
        "{VCLASS}{VESSEL}的船員在{LOCF}卸下貨物。",
        "{VCLASS}{VESSEL}預計{DATE}抵達{CP}，由{LOC}駛來。",
        "到港通知：船名{VESSEL}，航次{AGE}N，代理{ORG}。",
        "{VCLASS}{VESSEL}晚上在{LOC}對開把貨物轉駁至{VESSEL2}。",
        "貨櫃{CONTAINER}將改於{LOC}卸貨，不在{LOC2}卸下。",
        "付貨人：{ORG}；收貨人：{ORG2}；通知方：{PERSON}，電話{PHONE}。",
        "{VCLASS}{VESSEL}駛離{LOC}，未有提交艙單。",
        "已預訂{VESSEL}艙位，運載{QTY}{COVER}，裝貨港{LOC}。",
        "水警在{LOC}附近登上{VCLASS}{VESSEL}進行例行檢查。",
        "{VESSEL}的艙單列明一批{GOODS}，收貨人為{ORG}。",
        "{VESSEL}抵港前曾停靠{LOC}及{LOC2}。",
        "貨物：{COVER}；船名：{VESSEL}；裝貨港：{LOC}；卸貨港：{LOC2}。",
        "{VCLASS}{VESSEL}由{ORG}擁有，停泊於{LOC}。",
    ),
    "osint": (
        "而家有冇人喺{LOCF}？海關逐架車查",
        "喺{LOCF}同個人買咗{GOODS}，{VALUE}，係咪真貨？",
        "聽講{VCLASS}{VESSEL}琴晚喺{LOCF}俾人搜",
        "今日喺{LOC}又見到海關查拖篋，成堆{GOODS}",
        "邊度有平{GOODS}買？聽講{LOC}嗰間{ORG}有得賣",
        "出售全新{GOODS}，有意PM或WhatsApp {PHONE}",
        "{VESSEL}喺{LOC}對開泊咗兩日，一直冇開燈，好奇怪",
        "請跑中港線司機，日薪{VALUE}，搵{PERSON} {PHONE}",
        "我朋友{PERSON}話{ORG}其實係空殼公司",
        "今朝車牌{PLATE}嘅貨車喺{CP}附近俾海關搜，成條路塞晒",
        "{LOC}直送平價{GOODS}，兩日送到{LOC2}，每箱{VALUE}",
        "聽講{VCLASS}{VESSEL}每個週末都運{GOODS}",
        "嘩{CP}啲海關沒收咗我啲{GOODS}",
        "{ORG}嘅{PERSON}話寄去{LOC}嘅包裹卡咗",
        "有冇人知{ROAD}嗰個倉係咪俾人搜咗？聽講有{GOODS}",
    ),
    "intel": (
        "{PERSON}每逢星期二在{LOCF}與水客會面，行動代號「{CODENAME}」。",
        "{VCLASS}{VESSEL}（{IMO}）涉嫌運載{GOODS}往{LOC}。",
        "目標人物{PERSON}相信在{LOC}時使用手機{PHONE}。",
        "線人報稱{PERSON}招募水客經{CP}攜帶{GOODS}。",
        "登記於{ORG}名下的車輛{PLATE}本星期多次經{CP}過境。",
        "一批{GOODS}預計下星期由{VESSEL}運抵。",
        "{PERSON}在{BANK}的戶口三個月內收取{VALUE}。",
        "據稱集團由{PERSON}領導，他曾任{ORG}司機。",
        "{ORG}與{ORG2}同用{LOC}一個地址及電話號碼{PHONE}。",
        "貨櫃{CONTAINER}與貨櫃{CONTAINER2}由同一貨運代理預訂。",
        "電話分析顯示{PHONE}與{PERSON}及{PLATE}的租用人有關。",
        "評估認為集團已經{LOC}轉移最少{VALUE}。",
        "{PERSON}又名{PERSON2}，與{LOC}的{ORG}有關連。",
        "{ORG}在{LOC}的戶口支付了{VALUE}。",
        "線人稱{ORG}以{COVER}名義進口{GOODS}。",
        "監視顯示{PERSON}在{LOC}一間餐廳外與{PERSON2}會面。",
    ),
}
_FLAVOUR_EN = {
    "drugs": "Trafficking in a dangerous drug is a serious offence under the Dangerous Drugs Ordinance.",
    "tobacco": "Under the Dutiable Commodities Ordinance, anyone who deals in duty-not-paid cigarettes commits an offence.",
    "counterfeit": "The brand owners confirmed that the items bore forged trademarks.",
    "endangered_species": "The species is protected under the Protection of Endangered Species of Animals and Plants Ordinance.",
    "fuel": "The fuel had been dyed and was intended for unlicensed filling points.",
    "cash": "Large amounts of currency carried across the boundary must be declared to Customs in writing.",
    "other": "The goods were released after the duty was paid.",
}
_FLAVOUR_ZH = {
    "drugs": "根據《危險藥物條例》，販運危險藥物屬嚴重罪行。",
    "tobacco": "根據《應課稅品條例》，任何人處理未完稅香煙即屬違法。",
    "counterfeit": "商標持有人確認有關物品附有偽造商標。",
    "endangered_species": "有關物種受《保護瀕危動植物物種條例》保護。",
    "fuel": "該批燃油經染色，準備供應非法加油站。",
    "cash": "旅客攜帶大額貨幣過境，必須向海關作書面申報。",
    "other": "貨主其後補繳稅款，貨物獲放行。",
}
_CASH = {"en": ("{PERSON} was found carrying {VALUE} in cash at {CP} without making a declaration.",
                "Banknotes amounting to {VALUE} were concealed in the luggage of {PERSON}.",
                "Couriers hired by {ORG} carried currency worth {VALUE} through {CP}."),
         "zh": ("{PERSON}在{CP}被發現攜帶{VALUE}現金而沒有申報。",
                "{PERSON}的行李內藏有合共{VALUE}的鈔票。",
                "{ORG}僱用的水客經{CP}攜帶總值{VALUE}的貨幣。")}
TEMPLATES = {"en": _EN, "zh": _ZH}
GENRES = tuple(_EN)
_ARREST = re.compile(r"arrested|被捕|拘捕")
KINDS = ("running", "note", "list", "run_on")


def _date(rng: random.Random, zh: bool) -> str:
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    if zh:
        return rng.choice((f"{rng.randint(2019, 2025)}年{month}月{day}日", f"{month}月{day}日",
                           f"{zh_numeral(month)}月{zh_numeral(day)}日", "昨日", "今日"))
    names = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")
    return rng.choice((f"{day} {names[month - 1]}", f"{names[month - 1]} {day}", f"{day} {names[month - 1]} {rng.randint(2019, 2025)}",
                       "yesterday", f"{day}/{month}"))


_REUSE = {"PERSON": 0.7, "ORG": 0.7, "GOODS": 0.8, "VESSEL": 0.7}
"""How often a slot repeats the document's cast (the same people and goods recur) rather than a new value."""


class _Writer:
    """Fills templates into one growing text, recording spans and the sums the text states."""

    def __init__(self, values: _Values) -> None:
        self.values = values
        self.cast: dict[str, Value] = {}
        self.text, self.spans, self.amounts = "", [], []

    def literal(self, text: str) -> None:
        self.text += text

    def fill(self, template: str) -> None:
        pos = 0
        for m in _SLOT.finditer(template):
            self.text += template[pos:m.start()]
            slot = m.group(1)
            value = self._value(slot, m.group(2))
            self.text += value.before
            if slot in _LABELLED:
                self.spans.append((len(self.text), len(self.text) + len(value.text), _LABELLED[slot]))
            self.text += value.text + value.after
            pos = m.end()
        self.text += template[pos:]

    def _value(self, slot: str, n: str) -> Value:
        v, rng = self.values, self.values.rng
        key = slot + n
        if key in self.cast and rng.random() < _REUSE.get(slot, 0.3):
            return self.cast[key]
        draw: dict[str, Callable[[], Value]] = {
            "PERSON": v.person, "ORG": v.org, "LOC": v.place, "CP": v.control_point, "ROAD": v.road,
            "VESSEL": v.vessel, "PLATE": v.plate, "CONTAINER": v.container, "PHONE": v.phone, "GOODS": v.goods,
            "COVER": lambda: v.goods(cover=True), "BANK": lambda: Value(v.pick(V.BANKS)[1 if v.zh else 0]),
            "DATE": lambda: Value(_date(rng, v.zh)), "AGE": lambda: Value(str(rng.randint(2, 68))),
            "QTY": lambda: Value(v.quantity()), "VCLASS": lambda: Value(v.vessel_class()),
            "LOCF": v.place_with_facility, "COURT": v.court,
            "IMO": lambda: Value(f"IMO {rng.randint(9_000_000, 9_999_999)}"),
            "CODENAME": lambda: Value(v.pick(V.CODENAMES)[1 if v.zh else 0]),
        }
        if slot == "GOODS" and n:
            value = v.goods(v.pick([t for t in TOPICS if t != "cash"]))
        elif slot == "VALUE":
            value, amount = v.money(3.5, 8.3 if v.topic in ("cash", "drugs", "endangered_species") else 7.5)
            self.amounts.append(amount)
        elif slot == "FINE":
            value = v.money(3.5, 6.7)[0]
        else:
            value = draw[slot]()
        self.cast[key] = value
        return value


def _sentences(rng: random.Random, language: str, topic: str, genre: str, count: int) -> list[str]:
    pool = TEMPLATES[language][genre]
    chosen = rng.sample(pool, k=min(len(pool), count))
    if topic != "cash" and not any("{GOODS}" in t for t in chosen):  # the goods decide the topic: name them
        chosen.insert(rng.randrange(len(chosen) + 1), rng.choice([t for t in pool if "{GOODS}" in t]))
    if topic == "cash" and rng.random() < 0.7:
        chosen.insert(0, rng.choice(_CASH[language]))
    if rng.random() < 0.25 and genre != "osint":
        chosen.insert(rng.randrange(len(chosen) + 1), (_FLAVOUR_ZH if language == "zh" else _FLAVOUR_EN)[topic])
    return chosen


def _document(rng: random.Random, index: int, language: str, topic: str, genre: str, kind: str) -> LabelledDocument:
    zh = language == "zh"
    w = _Writer(_Values(rng, language, topic))
    body = _sentences(rng, language, topic, genre, rng.randint(2, 6))
    space = "" if zh else " "
    if kind == "note":
        w.literal(rng.choice(("情報紀錄\n", "線報：", "【內部】", "摘要\n")) if zh else rng.choice(
            ("INTELLIGENCE NOTE\n", "Info report - ", "NOTE: ", "Source report (grade B2)\n", "SUMMARY\n")))
        w.literal(f"{'編號' if zh else 'Ref'}{'：' if zh else ': '}{rng.choice(('IN', 'CS', 'ICD'))}/"
                  f"{rng.randint(2019, 2025)}/{rng.randint(1, 9999):04d}\n")
        if rng.random() < 0.6:
            w.fill("目標：{PERSON}／{ORG}\n" if zh else "Subject: {PERSON} / {ORG}\n")
    elif kind == "list":
        w.fill("涉案人士：\n1. {PERSON}（{PHONE}）\n2. {PERSON2}，{ORG}\n" if zh
               else "Persons of interest:\n1. {PERSON} ({PHONE})\n2. {PERSON2}, {ORG}\n")
    for i, template in enumerate(body):
        if kind == "run_on" and not zh and i and template[0].isupper() and not template.startswith("{"):
            template = template[0].lower() + template[1:]
        if kind == "run_on" and i < len(body) - 1:
            template = template.rstrip("。.") + ("，" if zh else rng.choice((", ", " and ", " ")))
        else:
            template += space if i < len(body) - 1 else ""
        if zh and rng.random() < 0.2:
            template = template.replace("，", ",").replace("：", ":")
        if not zh and rng.random() < 0.08:
            template = template.replace(": ", "：").replace(", ", "，")
        w.fill(template)
        if kind in ("note", "list") and rng.random() < 0.4:
            w.literal("\n")
    arrest = bool(_ARREST.search(w.text))
    priority = triage_priority(topic, max(w.amounts) if w.amounts else None, arrest)
    return LabelledDocument(f"CORPUS{index:06d}", language, f"{genre}/{kind}", w.text, tuple(w.spans), topic, priority)


TOPIC_WEIGHTS = {"drugs": 1.0, "tobacco": 1.0, "counterfeit": 1.0, "endangered_species": 1.0, "cash": 1.0,
                 "fuel": 1.0, "other": 2.0}
"""Topic mix of the corpus: balanced across contraband topics, with more ``other`` as in real traffic."""


def generate_corpus(n_documents: int, seed: int = 0, zh_share: float = 0.5) -> list[LabelledDocument]:
    """``n_documents`` labelled documents; the same ``seed`` gives the same corpus."""
    rng = random.Random(seed)
    topics, weights = list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values())
    out = []
    for i in range(n_documents):
        language = "zh" if rng.random() < zh_share else "en"
        topic = rng.choices(topics, weights)[0]
        out.append(_document(rng, i + 1, language, topic, rng.choice(GENRES), rng.choice(KINDS)))
    return out

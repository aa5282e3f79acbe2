"""The NLP package's own labelled training corpus, in English and Traditional Chinese.

Why a generator of our own: the synthetic world's documents (``workbench.demo``) and their
gold spans exist to *score* the extractor; training on them, even on a held-out split,
teaches the model the world's sentence frames and names and over-states its quality. This
module writes documents from its own templates and value pools, so every world document
is unseen text with mostly unseen values when the tagger reads it.

What it shares with the world is general vocabulary only: Chinese surnames and their
romanisations, the tariff (HS) descriptions of goods and their topic
(``COMMODITY_TOPICS``), the ISO 6346 check digit, Chinese numerals and the customs triage
policy (``triage_priority``). Names of people (given names), companies, vessels, places,
streets, sentence templates and document layouts are this module's own.

Each document has gold spans ``(start, end, label)`` (character offsets), a report topic
and a triage priority, so one corpus trains both the tagger and the report classifier.
Shapes vary on purpose: notes with headers, press releases, web articles, numbered lists,
address lines, run-on text without full stops, and full-width punctuation.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench.demo.documents import COMMODITY_TOPICS, TOPICS, triage_priority, zh_integer
from workbench.demo.identifiers import container_check_digit
from workbench.demo.vocabulary import COMMODITIES, SURNAMES

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


# -- value pools (this module's own) ---------------------------------------------------------------

_GIVEN_SYLLABLES = ("Ka", "Wing", "Yan", "Chun", "Kit", "Hoi", "Lok", "Tsz", "Hin", "Pui", "Sze", "Yuen", "Kwan",
                    "Fai", "Shing", "Hung", "Keung", "Yiu", "Wai", "Ting", "On", "Chi", "Yee", "Lai", "Kin", "Tak",
                    "Man", "Ho", "Nga", "Suet", "Kei", "Yat", "Mei", "Fung", "Sum", "Bo", "Cheuk", "Long", "Hei")
_GIVEN_PINYIN = ("Jun", "Hao", "Xin", "Yu", "Tao", "Lei", "Feng", "Qiang", "Ying", "Hui", "Ming", "Jie", "Bin",
                 "Rui", "Xiang", "Yan", "Peng", "Lin", "Na", "Gang", "Wen", "Chao", "Dong", "Kai")
_WESTERN_GIVEN = ("Jason", "Michelle", "Kelvin", "Winnie", "Raymond", "Ivy", "Terence", "Joyce", "Alvin", "Karen",
                  "Dickson", "Fiona", "Eric", "Candy", "Wilson", "Gary", "Queenie", "Patrick")
_OTHER_PEOPLE = ("Singh Harpreet", "Ahmed KHAN", "Nguyen Van Thanh", "Maria SANTOS", "Tanaka Hiroshi",
                 "Juan PEREZ", "Kumar RAJESH", "Olga PETROVA", "Budi SANTOSO", "David MILLER")
_GIVEN_ZH = ("子軒", "浩賢", "嘉怡", "曉彤", "卓謙", "芷晴", "樂天", "家樂", "凱琳", "俊宏", "國強", "淑貞", "詠琪",
             "啟明", "志豪", "慧敏", "兆基", "錦泉", "婉婷", "頌恩", "天佑", "耀宗", "碧玉", "建國", "德明", "鳳儀",
             "寶珠", "偉健", "文傑", "秋萍", "朗", "欣", "峰", "豪", "婷", "健", "勇", "霞")
_ORG_WORDS = (("Sunrise", "旭日"), ("Kingsway", "景威"), ("Everwin", "恒勝"), ("Hopewell", "合和"),
              ("Luckyway", "福運"), ("Sea Crown", "海冠"), ("Wealthy Gate", "富門"), ("Tin Hau", "天后"),
              ("Long Harvest", "長豐"), ("Cosmo Bay", "宇灣"), ("Po Lee", "寶利"), ("Kam Shing", "錦城"),
              ("Fu Yuen", "富源"), ("Alpha Rise", "啟昇"), ("Golden Crane", "金鶴"), ("Nine Dragons", "九龍"),
              ("Star Bright", "星輝"), ("Sino Bridge", "華橋"), ("Ocean Tide", "海潮"), ("Mega Link", "鉅聯"),
              ("Wai Kee", "偉記"), ("Chun Hing", "駿興"), ("Tung Fat", "東發"), ("Yick Lee", "益利"),
              ("Delta Gateway", "珠三角"), ("Apex Wise", "睿峰"), ("Firm Rock", "堅石"), ("Hong Yip", "康業"))
_ORG_TRADES = (("Trading", "貿易"), ("Shipping", "船務"), ("Cargo", "貨運"), ("Commerce", "商貿"),
               ("Import Export", "進出口"), ("Warehouse", "倉儲"), ("Express", "速遞"), ("Resources", "資源"),
               ("Garment", "製衣"), ("Pharmacy", "藥房"), ("Motor", "汽車"), ("Energy", "能源"), ("Global", "環球"))
_ORG_FORMS_EN = ("Limited", "Ltd", "Ltd.", "Co. Ltd.", "Company Limited", "Holdings Limited", "(HK) Limited",
                 "Group Ltd", "Inc.")
_ORG_FORMS_ZH = ("有限公司", "公司", "集團有限公司", "行", "（香港）有限公司")
_PLACES = (("Kwun Tong", "觀塘"), ("Sham Shui Po", "深水埗"), ("Tsuen Wan", "荃灣"), ("Yuen Long", "元朗"),
           ("Tuen Mun", "屯門"), ("Sheung Shui", "上水"), ("Fanling", "粉嶺"), ("Tai Po", "大埔"),
           ("Sha Tin", "沙田"), ("Kwai Chung", "葵涌"), ("Tsing Yi", "青衣"), ("Mong Kok", "旺角"),
           ("Yau Ma Tei", "油麻地"), ("Wan Chai", "灣仔"), ("Chai Wan", "柴灣"), ("Aberdeen", "香港仔"),
           ("Lau Fau Shan", "流浮山"), ("Sai Kung", "西貢"), ("Tung Chung", "東涌"), ("San Tin", "新田"),
           ("Ta Kwu Ling", "打鼓嶺"), ("Shenzhen", "深圳"), ("Dongguan", "東莞"), ("Guangzhou", "廣州"),
           ("Zhuhai", "珠海"), ("Macao", "澳門"), ("Shekou", "蛇口"), ("Huizhou", "惠州"), ("Singapore", "新加坡"),
           ("Bangkok", "曼谷"), ("Ho Chi Minh City", "胡志明市"), ("Dubai", "杜拜"), ("Lagos", "拉各斯"),
           ("Mombasa", "蒙巴薩"), ("Port Klang", "巴生港"), ("Busan", "釜山"), ("Kaohsiung", "高雄"),
           ("Hong Kong International Airport", "香港國際機場"), ("Tsing Yi Container Terminal", "青衣貨櫃碼頭"),
           ("Lo Wu Control Point", "羅湖管制站"), ("Macau Ferry Terminal", "港澳碼頭"))
_STREETS = (("Kwai Fung Crescent", "葵豐街"), ("Hoi Yuen Road", "開源道"), ("Tai Lin Pai Road", "大連排道"),
            ("Wo Yi Hop Road", "和宜合道"), ("Un Chau Street", "元州街"), ("Castle Peak Road", "青山公路"),
            ("Lai Chi Kok Road", "荔枝角道"), ("Shing Yip Street", "成業街"), ("Kin Wing Street", "建榮街"))
_BUILDINGS = (("Harbour Industrial Centre", "海港工業中心"), ("Wing Tai Factory Building", "永泰工廠大廈"),
              ("Golden Dragon Centre", "金龍中心"), ("Fook Yip Building", "福業大廈"), ("Eastern Mansion", "東方大廈"))
_VESSEL_HEADS = ("SEA", "PACIFIC", "KOTA", "NORDIC", "STAR", "GOLDEN", "XIN", "HUA", "ASIAN", "OCEAN", "GRAND",
                 "SINAR", "JADE", "LUCKY", "ORIENT", "SILVER")
_VESSEL_TAILS = ("FORTUNE", "VOYAGER", "HARVEST", "EAGLE", "CROWN", "DAWN", "MERIDIAN", "BLOSSOM", "HORIZON",
                 "PROSPERITY", "TIGER", "LINK", "WIND", "BRIDGE", "RAINBOW", "VENTURE", "LIBERTY", "CORAL")
_VESSEL_ZH = ("粵東莞貨", "粵中山貨", "穗港", "順昌", "海順", "華運", "恒通")
_CONTAINER_OWNERS = ("ABCU", "TEMU", "GESU", "FCIU", "CAIU", "TRLU", "DFSU", "BEAU", "SZLU", "KKFU", "WHLU",
                     "YMLU", "ZCSU", "NYKU")
_PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_GOODS: dict[str, tuple[tuple[str, str], ...]] = {
    "drugs": (("heroin", "海洛英"), ("methamphetamine", "甲基安非他明"), ("crystal meth", "冰毒"),
              ("cannabis buds", "大麻花"), ("herbal cannabis", "大麻草"), ("cocaine", "可卡因"), ("ketamine", "氯胺酮"),
              ("MDMA tablets", "搖頭丸"), ("cannabis resin", "大麻樹脂"), ("etomidate e-liquid", "依托咪酯煙彈")),
    "tobacco": (("duty-not-paid cigarettes", "未完稅香煙"), ("cigarettes", "香煙"), ("heated tobacco products", "加熱煙"),
                ("cigars", "雪茄"), ("hand-rolling tobacco", "手捲煙草"), ("e-cigarettes", "電子煙"),
                ("illicit cigarettes", "私煙")),
    "counterfeit": (("counterfeit handbags", "冒牌手袋"), ("fake watches", "偽冒手錶"), ("counterfeit cosmetics", "假冒化妝品"),
                    ("imitation sports shoes", "仿冒運動鞋"), ("counterfeit perfume", "冒牌香水"),
                    ("pirated earphones", "翻版耳機"), ("fake designer clothing", "冒牌名牌服裝")),
    "endangered_species": (("elephant tusks", "象牙"), ("rhino horn", "犀牛角"), ("pangolin scales", "穿山甲鱗片"),
                           ("live turtles", "活龜"), ("agarwood", "沉香"), ("totoaba fish maw", "石首魚花膠"),
                           ("dried seahorses", "乾海馬"), ("live tortoises", "活陸龜"), ("hornbill casques", "盔犀鳥頭骨")),
    "fuel": (("marked oil", "有色油"), ("diesel", "柴油"), ("unleaded petrol", "無鉛汽油"), ("liquefied petroleum gas", "石油氣"),
             ("kerosene", "火水"), ("duty-not-paid diesel", "未完稅柴油")),
    "cash": (),
    "other": (("frozen beef", "冷藏牛肉"), ("mobile phones", "手提電話"), ("graphics cards", "電腦顯示卡"),
              ("milk powder", "奶粉"), ("dried sea cucumber", "乾海參"), ("copper wire", "銅線"), ("red wine", "紅酒"),
              ("electronic components", "電子零件"), ("used tyres", "舊輪胎"), ("frozen pork", "冷藏豬肉"),
              ("toy figures", "玩具公仔"), ("vitamin supplements", "維他命補充劑"), ("tablet computers", "平板電腦"),
              ("scrap metal", "廢金屬"), ("game consoles", "遊戲機")),
}
"""Goods as street and press language names them, per topic (cash reports name money, not goods)."""


def _tariff_goods() -> dict[str, list[tuple[str, str]]]:
    """Tariff descriptions, per topic, as running text writes them (lower case unless a proper noun leads)."""
    out: dict[str, list[tuple[str, str]]] = {topic: [] for topic in TOPICS}
    for c in COMMODITIES:
        en = c.desc_en.lower() if c.desc_en[1:].islower() else c.desc_en
        out[COMMODITY_TOPICS.get(c.hs_code, "other")].append((en, c.desc_zh))
    return out


_TARIFF_GOODS = _tariff_goods()


class _Values:
    """Draws entity values; every draw is a fresh value from the pools (a document keeps a cast)."""

    def __init__(self, rng: random.Random, language: str, topic: str) -> None:
        self.rng, self.zh, self.topic = rng, language == "zh", topic

    def pick(self, pool):
        return pool[self.rng.randrange(len(pool))]

    def person(self) -> str:
        r = self.rng.random()
        surname = self.pick(SURNAMES)
        if self.zh and r < 0.8:
            return surname.zh + self.pick(_GIVEN_ZH)
        if r < 0.06:
            return self.pick(_OTHER_PEOPLE)
        mainland = self.rng.random() < 0.25
        family = surname.pinyin if mainland else self.pick((surname.cantonese, surname.cantonese, *surname.others))
        n = 1 if mainland or self.rng.random() < 0.15 else 2
        parts = [self.pick(_GIVEN_PINYIN if mainland else _GIVEN_SYLLABLES) for _ in range(n)]
        style = self.rng.randrange(7)
        if style == 0:
            return f"{family.upper()} {' '.join(parts)}"
        if style == 1:
            return f"{family} {'-'.join([parts[0]] + [p.lower() for p in parts[1:]])}"
        if style == 2:
            return f"{' '.join(parts)} {family.upper()}"
        if style == 3:
            return f"{family.upper()}, {' '.join(parts)}"
        if style == 4:
            return f"{self.pick(_WESTERN_GIVEN)} {family.upper()} {'-'.join(parts)}"
        if style == 5:
            return f"{family.upper()} {' '.join(p[0] + '.' for p in parts)}"
        return f"{self.pick(_WESTERN_GIVEN)} {family}"

    def org(self) -> str:
        word_en, word_zh = self.pick(_ORG_WORDS)
        trade_en, trade_zh = self.pick(_ORG_TRADES)
        if self.zh and self.rng.random() < 0.8:
            return word_zh + trade_zh + self.pick(_ORG_FORMS_ZH)
        name = f"{word_en} {trade_en} {self.pick(_ORG_FORMS_EN)}"
        return name.upper().replace(".", "") if self.rng.random() < 0.2 else name

    def place(self) -> str:
        en, zh = self.pick(_PLACES)
        return zh if self.zh else en

    def vessel(self) -> str:
        if self.zh and self.rng.random() < 0.3:
            return f"{self.pick(_VESSEL_ZH)}{self.rng.randint(1, 9999)}"
        name = f"{self.pick(_VESSEL_HEADS)} {self.pick(_VESSEL_TAILS)}"
        return name + (f" {self.rng.randint(1, 99)}" if self.rng.random() < 0.2 else "")

    def plate(self) -> str:
        if self.rng.random() < 0.3:
            chars = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
            body = "".join(self.pick(chars) for _ in range(4))
            city = self.pick("ZBSE")
            return f"{self.pick('粤粵')}{city}{self.pick(['·', '', ' '])}{body}{self.pick(['港', '澳', ''])}"
        letters = "".join(self.pick(_PLATE_LETTERS) for _ in range(self.rng.choice((1, 2, 2, 2))))
        return f"{letters}{self.pick([' ', ' ', ''])}{self.rng.randint(1, 9999)}"

    def container(self) -> str:
        prefix = f"{self.pick(_CONTAINER_OWNERS)}{self.rng.randrange(1_000_000):06d}"
        digit = container_check_digit(prefix)
        return f"{prefix[:4]} {prefix[4:]} {digit}" if self.rng.random() < 0.15 else f"{prefix}{digit}"

    def phone(self) -> str:
        if self.rng.random() < 0.3:
            n = f"1{self.rng.randint(3, 9)}{self.rng.randrange(10**9):09d}"
            return self.pick([f"+86 {n}", f"+86-{n[:3]}-{n[3:7]}-{n[7:]}", f"+86{n}"])
        n = f"{self.pick('23569')}{self.rng.randrange(10**7):07d}"
        return self.pick([f"+852 {n}", f"+852 {n[:4]} {n[4:]}", f"+852-{n}", f"852 {n}", f"+852{n}"])

    def goods(self, topic: str | None = None) -> str:
        topic = topic or self.topic
        pool = [*_GOODS[topic], *_TARIFF_GOODS[topic]] or [*_GOODS["other"], *_TARIFF_GOODS["other"]]
        en, zh = self.pick(pool)
        return zh if self.zh else en

    def money(self, low: float, high: float) -> tuple[str, float]:
        """An amount between ``low`` and ``high`` HKD, written as the press would; returns (text, HKD)."""
        amount = float(f"{10 ** self.rng.uniform(low, high):.2g}")
        if self.zh:
            return self._money_zh(amount), amount
        style = self.rng.randrange(5)
        if amount >= 1e6 and style < 3:
            unit, scale = ("billion", 1e9) if amount >= 1e9 else ("million", 1e6)
            sign = self.pick(["HK$", "HK$", "$"])
            return f"{sign}{amount / scale:g} {unit}" if style else f"{sign}{amount / scale:g}{unit[0]}", amount
        if style == 3 and amount < 1e8:
            return f"US${amount / 7.8:,.0f}", round(amount / 7.8) * 7.8
        return f"{self.pick(['HK$', 'HKD ', 'HK$'])}{amount:,.0f}", amount

    def _money_zh(self, amount: float) -> str:
        wan = int(amount // 1e4)
        yi, rest = divmod(wan, 10_000)
        style = self.rng.randrange(4)
        if style == 0 or wan == 0:
            body = f"{amount:,.0f}" if wan == 0 else f"{wan:,}萬"
        elif style == 1 and yi:
            body = f"{amount / 1e8:g}億"
        else:
            body = (zh_integer(yi) + "億" if yi else "") + (zh_integer(rest) + "萬" if rest else "")
        head = self.pick(["", "", "約", "逾"])
        if self.rng.random() < 0.25:
            return f"{head}港幣{body}元"
        return f"{head}{body}{self.pick(['元', '港元', '港元'])}"


# -- templates (this module's own) -------------------------------------------------------------------

_SLOT = re.compile(r"\{([A-Z]+)(\d?)\}")
_LABELLED = {"PERSON": "PERSON", "ORG": "ORG", "LOC": "LOCATION", "VESSEL": "VESSEL", "PLATE": "PLATE",
             "CONTAINER": "CONTAINER", "PHONE": "PHONE", "GOODS": "COMMODITY", "COVER": "COMMODITY",
             "VALUE": "MONEY", "FINE": "MONEY"}

_EN_SEIZURE = (
    "Officers seized {QTY} of {GOODS} worth about {VALUE} at {LOC} on {DATE}.",
    "During a check at {LOC}, officers found {QTY} of {GOODS} hidden in container {CONTAINER}.",
    "A search of vehicle {PLATE} at {LOC} revealed {GOODS} concealed under the cargo floor.",
    "{GOODS} with a market value of {VALUE} were discovered in a consignment declared as {COVER}.",
    "The shipment of {GOODS}, declared by {ORG}, arrived from {LOC} aboard {VESSEL}.",
    "Some {QTY} of {GOODS} were recovered from a storage unit in {LOC}.",
    "X-ray images of {CONTAINER} looked irregular; {GOODS} were found behind cartons of {COVER}.",
    "The {GOODS} were packed as {COVER} and consigned to {ORG} in {LOC}.",
    "Officers intercepted {QTY} of {GOODS} at {LOC}, estimated to be worth {VALUE}.",
    "About {QTY} of suspected {GOODS} were in the boot of private car {PLATE}.",
    "In total {QTY} of {GOODS} (value: {VALUE}) were detained pending investigation.",
    "Acting on intelligence, the team raided a godown in {LOC} and found {GOODS} valued at {VALUE}.",
)
_EN_CASH = (
    "{PERSON} was found carrying {VALUE} in cash at {LOC} without making a declaration.",
    "Banknotes amounting to {VALUE} were concealed in the luggage of {PERSON}.",
    "Between {DATE} and {DATE2}, {PERSON} moved a total of {VALUE} in cash across the boundary.",
    "The cash, {VALUE} in total, was handed to a courier who used phone {PHONE}.",
    "Couriers recruited by {ORG} carried bundles of currency worth {VALUE} through {LOC}.",
    "Undeclared currency of {VALUE} was found strapped to the body of {PERSON} at {LOC}.",
)
_EN_FLAVOUR = {
    "drugs": "The dangerous drugs are believed to be destined for the local market.",
    "tobacco": "The cigarettes were duty-not-paid and would have evaded duty of about {FINE}.",
    "counterfeit": "Brand owners confirmed the items bore forged trademarks.",
    "endangered_species": "The species is protected under the Protection of Endangered Species of Animals and Plants Ordinance.",
    "fuel": "The fuel had been dyed and was intended for unlicensed filling points.",
    "cash": "Large cross-boundary cash movements must be declared to Customs.",
    "other": "The goods were later released after duty was settled.",
}
_EN_PARTIES = (
    "{PERSON}, aged {AGE}, was arrested at {LOC}.",
    "Two men, including {PERSON}, were arrested and later released on bail.",
    "{PERSON} (tel: {PHONE}) is believed to coordinate the drivers.",
    "Records link {PHONE} to {ORG}, whose sole director is {PERSON}.",
    "{PERSON} acts as a nominee director for {ORG} and {ORG2}.",
    "Lorry {PLATE} is registered to {ORG}.",
    "Vehicle {PLATE} crossed at {LOC} three times in one week.",
    "Cargo was transferred from {VESSEL} to a river barge near {LOC}.",
    "{VESSEL} called at {LOC} before arriving in Hong Kong.",
    "Telephone {PHONE} was used to book container {CONTAINER}.",
    "{ORG} rents a warehouse unit in {LOC}.",
    "Call records show that {PERSON} phoned {PERSON2} on {PHONE} the night before.",
    "Bank statements show {ORG} received {VALUE} from an account in {LOC}.",
    "{PERSON} denied knowing what the cartons contained.",
    "Subject uses vehicle {PLATE} and mobile {PHONE}.",
    "{PERSON2} of {ORG} booked the space on {VESSEL}.",
    "The case has been referred to the prosecution section for follow-up.",
    "If convicted, offenders face a maximum fine of {FINE} and imprisonment for seven years.",
    "Anyone with information may call the hotline {PHONE}.",
    "{ORG} shares its office in {LOC} with {ORG2}.",
)
_ZH_SEIZURE = (
    "關員於{DATE}在{LOC}檢獲{QTY}{GOODS}，市值{VALUE}。",
    "關員在{LOC}查驗時，於貨櫃{CONTAINER}內發現{QTY}{GOODS}。",
    "關員在{LOC}搜查車輛{PLATE}，在貨斗夾層內發現{GOODS}。",
    "一批申報為{COVER}的貨物中，被發現藏有市值{VALUE}的{GOODS}。",
    "由{ORG}申報的{GOODS}經{VESSEL}從{LOC}運抵本港。",
    "關員在{LOC}一個儲物倉內起出{QTY}{GOODS}。",
    "貨櫃{CONTAINER}的X光影像有可疑，關員在{COVER}紙箱後找到{GOODS}。",
    "該批{GOODS}以{COVER}名義付運，收貨人為{LOC}的{ORG}。",
    "海關截獲{QTY}{GOODS}，估計價值{VALUE}。",
    "私家車{PLATE}車尾箱內有約{QTY}懷疑{GOODS}。",
    "案中合共{QTY}{GOODS}（價值{VALUE}）被扣留以待調查。",
    "根據情報，調查隊搜查{LOC}一個貨倉，檢獲價值{VALUE}的{GOODS}。",
)
_ZH_CASH = (
    "{PERSON}在{LOC}被發現攜帶{VALUE}現金而沒有申報。",
    "{PERSON}的行李內藏有合共{VALUE}的鈔票。",
    "{DATE}至{DATE2}期間，{PERSON}合共帶了{VALUE}現金過境。",
    "該筆{VALUE}現金交予一名使用電話{PHONE}的速遞員。",
    "{ORG}招募的水客經{LOC}攜帶總值{VALUE}的貨幣。",
    "關員在{LOC}發現{PERSON}身上綁有{VALUE}未申報貨幣。",
)
_ZH_FLAVOUR = {
    "drugs": "相信該批危險藥物準備供應本地市場。",
    "tobacco": "該批香煙屬未完稅貨品，涉及應課稅款{FINE}。",
    "counterfeit": "商標持有人確認有關物品附有偽冒商標。",
    "endangered_species": "有關物種受《保護瀕危動植物物種條例》保護。",
    "fuel": "該批燃油經染色，準備供應非法加油站。",
    "cash": "大額跨境現金必須向海關申報。",
    "other": "貨主其後補繳稅款，貨物獲放行。",
}
_ZH_PARTIES = (
    "{AGE}歲的{PERSON}在{LOC}被捕。",
    "兩名男子被捕，包括{PERSON}，其後獲准保釋。",
    "相信{PERSON}（電話：{PHONE}）負責調配司機。",
    "紀錄顯示{PHONE}與{ORG}有關，該公司唯一董事為{PERSON}。",
    "{PERSON}同時是{ORG}及{ORG2}的掛名董事。",
    "貨車{PLATE}登記在{ORG}名下。",
    "車輛{PLATE}在一星期內三次經{LOC}過境。",
    "貨物在{LOC}附近由{VESSEL}轉駁至內河躉船。",
    "{VESSEL}抵港前曾停靠{LOC}。",
    "電話{PHONE}曾用作預訂貨櫃{CONTAINER}。",
    "{ORG}在{LOC}租用一個倉庫單位。",
    "通話紀錄顯示{PERSON}前一晚曾以{PHONE}致電{PERSON2}。",
    "銀行紀錄顯示{ORG}從{LOC}一個戶口收取{VALUE}。",
    "{PERSON}否認知道紙箱內的物品。",
    "目標人物使用車輛{PLATE}及手提電話{PHONE}。",
    "{ORG}的{PERSON2}預訂了{VESSEL}的艙位。",
    "案件已轉交檢控組跟進。",
    "一經定罪，最高可被判罰款{FINE}及監禁七年。",
    "市民如有資料可致電熱線{PHONE}舉報。",
    "{ORG}與{ORG2}共用位於{LOC}的辦事處。",
)
_SENTENCES = {"en": (_EN_SEIZURE, _EN_CASH, _EN_FLAVOUR, _EN_PARTIES),
              "zh": (_ZH_SEIZURE, _ZH_CASH, _ZH_FLAVOUR, _ZH_PARTIES)}
_ARREST = re.compile(r"arrested|被捕")
KINDS = ("note", "press", "web", "list", "address", "run_on")


def _date(rng: random.Random, zh: bool) -> str:
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    if zh:
        return f"{rng.randint(2019, 2025)}年{month}月{day}日" if rng.random() < 0.5 else f"{month}月{day}日"
    names = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December")
    return f"{day} {names[month - 1]}" + (f" {rng.randint(2019, 2025)}" if rng.random() < 0.5 else "")


_REUSE = {"PERSON": 0.8, "ORG": 0.8, "GOODS": 0.8}
"""How often a slot repeats the document's cast (the same people and goods recur) rather than a new value."""


class _Writer:
    """Fills templates into one growing text, recording spans and the sums the text states."""

    def __init__(self, values: _Values, cast: dict[str, str]) -> None:
        self.values, self.cast = values, cast
        self.text, self.spans, self.amounts = "", [], []

    def literal(self, text: str) -> None:
        self.text += text

    def fill(self, template: str) -> None:
        pos = 0
        for m in _SLOT.finditer(template):
            self.text += template[pos:m.start()]
            slot, n = m.group(1), m.group(2)
            value = self._value(slot, n)
            if slot in _LABELLED:
                self.spans.append((len(self.text), len(self.text) + len(value), _LABELLED[slot]))
            self.text += value
            pos = m.end()
        self.text += template[pos:]

    def _value(self, slot: str, n: str) -> str:
        v, rng = self.values, self.values.rng
        key = slot + n
        if key in self.cast and rng.random() < _REUSE.get(slot, 0.5):
            return self.cast[key]
        draw: dict[str, Callable[[], str]] = {
            "PERSON": v.person, "ORG": v.org, "LOC": v.place, "VESSEL": v.vessel, "PLATE": v.plate,
            "CONTAINER": v.container, "PHONE": v.phone, "GOODS": v.goods, "COVER": lambda: v.goods("other"),
            "DATE": lambda: _date(rng, v.zh), "AGE": lambda: str(rng.randint(19, 68)),
        }
        if slot == "VALUE":
            text, amount = v.money(4.3, 8.3 if v.topic in ("cash", "drugs", "endangered_species") else 7.5)
            self.amounts.append(amount)
            return text
        if slot == "FINE":
            return v.money(5.3, 6.7)[0]
        if slot == "QTY":
            qty = rng.choice((rng.randint(2, 900), rng.randint(1000, 90000)))
            unit = rng.choice(("公斤", "件", "箱", "支") if v.zh else (" kg", " kilograms", " pieces", " cartons"))
            return f"{qty}{unit}" if v.zh else f"{qty:,}{unit}"
        return draw[slot]()


def _sentences(rng: random.Random, language: str, topic: str, count: int) -> list[str]:
    seizure, cash, flavour, parties = _SENTENCES[language]
    lead = cash if topic == "cash" else seizure
    chosen = rng.sample(lead, k=min(len(lead), rng.randint(1, 2)))
    chosen += rng.sample(parties, k=max(0, count - len(chosen)))
    if rng.random() < 0.35:
        chosen.insert(rng.randrange(len(chosen) + 1), flavour[topic])
    return chosen


def _document(rng: random.Random, index: int, language: str, topic: str, kind: str) -> LabelledDocument:
    zh = language == "zh"
    values = _Values(rng, language, topic)
    cast = {"PERSON": values.person(), "PERSON2": values.person(), "ORG": values.org(), "ORG2": values.org(),
            "LOC": values.place(), "GOODS": values.goods(), "PLATE": values.plate(), "PHONE": values.phone(),
            "VESSEL": values.vessel()}
    w = _Writer(values, cast)
    body = _sentences(rng, language, topic, rng.randint(2, 6))
    space = "" if zh else " "
    if kind == "note":
        w.literal(rng.choice(("情報紀錄\n", "線報：", "【內部】")) if zh else rng.choice(
            ("INTELLIGENCE NOTE\n", "Info report - ", "NOTE: ", "Source report (grade B2)\n")))
        w.literal(f"{'編號' if zh else 'Ref'}{'：' if zh else ': '}IN/{rng.randint(2019, 2025)}/{rng.randint(1, 9999):04d}\n")
        w.fill("目標：{PERSON}／{ORG}\n" if zh else "Subject: {PERSON} / {ORG}\n")
    elif kind == "press":
        w.literal("海關" + _date(rng, True) + "採取行動，" if zh else f"Hong Kong Customs on {_date(rng, False)} ")
        w.literal("" if zh else "mounted an operation. ")
    elif kind == "web":
        w.fill("【{LOC}】走私集團被搗破\n\n" if zh else "Smuggling ring busted in {LOC}\n\n")
    elif kind == "list":
        w.fill("涉案人士：\n1. {PERSON}（{PHONE}）\n2. {PERSON2}，{ORG}\n車輛：{PLATE}\n" if zh
               else "Persons of interest:\n1. {PERSON} ({PHONE})\n2. {PERSON2}, {ORG}\nVehicles: {PLATE}\n")
    elif kind == "address":
        street_en, street_zh = values.pick(_STREETS)
        building_en, building_zh = values.pick(_BUILDINGS)
        number, floor = rng.randint(1, 288), rng.randint(1, 30)
        if zh:
            w.fill("{ORG}地址：{LOC}" + f"{street_zh}{number}號{building_zh}{floor}樓{rng.randint(1, 20)}室。")
        else:
            w.fill(f"{{ORG}}, Unit {rng.randint(1, 20)}, {floor}/F, {building_en}, {number} {street_en}, {{LOC}}. ")
    for i, template in enumerate(body):
        if kind == "run_on" and not zh and i and template[0].isupper():
            template = template[0].lower() + template[1:]
        if kind == "run_on" and i < len(body) - 1:
            template = template.rstrip("。.") + ("，" if zh else rng.choice((", ", " and ", " ")))
        else:
            template += space if i < len(body) - 1 else ""
        if zh and rng.random() < 0.3:
            template = template.replace("，", ",")
        if not zh and rng.random() < 0.1:
            template = template.replace(": ", "：").replace(", ", "，")
        w.fill(template)
        if kind in ("note", "list") and rng.random() < 0.3:
            w.literal("\n")
    arrest = bool(_ARREST.search(w.text))
    priority = triage_priority(topic, max(w.amounts) if w.amounts else None, arrest)
    return LabelledDocument(f"CORPUS{index:06d}", language, kind, w.text, tuple(w.spans), topic, priority)


TOPIC_WEIGHTS = {"drugs": 1.0, "tobacco": 1.0, "counterfeit": 1.0, "endangered_species": 1.0, "cash": 1.0,
                 "fuel": 1.0, "other": 2.0}
"""Topic mix of the corpus: balanced across contraband topics, with more ``other`` as in real traffic."""


def generate_corpus(n_documents: int, seed: int = 0, zh_share: float = 0.45) -> list[LabelledDocument]:
    """``n_documents`` labelled documents; the same ``seed`` gives the same corpus."""
    rng = random.Random(seed)
    topics, weights = list(TOPIC_WEIGHTS), list(TOPIC_WEIGHTS.values())
    out = []
    for i in range(n_documents):
        language = "zh" if rng.random() < zh_share else "en"
        topic = rng.choices(topics, weights)[0]
        out.append(_document(rng, i + 1, language, topic, rng.choice(KINDS)))
    return out

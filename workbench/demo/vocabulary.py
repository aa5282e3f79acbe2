"""Reference data of the synthetic Hong Kong customs world.

Everything here is fixed, hand-written vocabulary (surnames, company-name parts ...);
public-standard tables (HS codes, control points, streets, country codes) come from
``workbench.reference`` and are re-exported under the names the generators use. The generators only ever
index into these tuples, so the world's realism lives in one place and the generators stay free of literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from workbench.reference import (
    CONTAINER_OWNER_CODES,
    CONTROL_POINTS,
    COUNTRY_NAMES,
    HS_CODES,
    STREETS,
)


WORLD_START = date(2022, 1, 1)
"""First day of the simulated period (three calendar years)."""
WORLD_END = date(2024, 12, 31)
WORLD_DAYS = (WORLD_END - WORLD_START).days + 1

SELECTION_THRESHOLD_HKD = 50_000.0
"""Declared value above which the (simulated) CIRMS risk profile raises the inspection
rate; split-shipment rings keep each consignment just under it."""
CASH_THRESHOLD_HKD = 120_000.0
"""Cross-boundary currency / bearer negotiable instrument declaration threshold."""


@dataclass(frozen=True)
class Commodity:
    """One HK-HS code (from ``workbench.reference``) with the world's typical economics for it."""

    hs_code: str
    desc_en: str
    desc_zh: str
    unit: str
    kg_per_unit: float
    hkd_per_kg: float
    category: str  # general | high_value | dutiable | prohibited


ECONOMICS: dict[str, tuple[float, float, str]] = {
    # HS code -> (kg per unit, HKD per kg, category) as this world trades it
    "85171300": (0.4, 10_000, "high_value"),
    "85171400": (0.2, 1_500, "general"),
    "84713000": (2.0, 3_500, "high_value"),
    "84715000": (8.0, 1_200, "general"),
    "85423100": (0.005, 60_000, "high_value"),
    "85423200": (0.005, 40_000, "high_value"),
    "85235100": (0.05, 8_000, "high_value"),
    "85076000": (0.3, 300, "general"),
    "85183000": (0.2, 1_500, "general"),
    "85287200": (15.0, 250, "general"),
    "85258900": (0.6, 5_000, "high_value"),
    "88062200": (1.0, 5_000, "high_value"),
    "91021100": (0.1, 20_000, "high_value"),
    "91011100": (0.15, 300_000, "high_value"),
    "71081200": (1.0, 450_000, "high_value"),
    "71131900": (1.0, 200_000, "high_value"),
    "71023900": (0.0002, 50_000_000, "high_value"),
    "24022000": (0.00125, 400, "dutiable"),
    "24031900": (1.0, 300, "dutiable"),
    "22083000": (1.4, 400, "dutiable"),
    "22042100": (1.3, 250, "general"),
    "22030000": (1.1, 15, "general"),
    "27101900": (0.85, 7, "dutiable"),
    "27111200": (1.0, 5, "general"),
    "30049000": (1.0, 800, "general"),
    "30021500": (1.0, 5_000, "high_value"),
    "33049900": (1.0, 600, "high_value"),
    "33030000": (1.0, 1_000, "high_value"),
    "19011000": (1.0, 150, "general"),
    "04109000": (1.0, 20_000, "high_value"),
    "03078700": (1.0, 1_500, "general"),
    "03074300": (1.0, 40, "general"),
    "03061700": (1.0, 70, "general"),
    "03019900": (1.0, 150, "general"),
    "03057100": (1.0, 2_500, "high_value"),
    "02023000": (1.0, 45, "general"),
    "02071400": (1.0, 15, "general"),
    "09012100": (1.0, 120, "general"),
    "21069000": (1.0, 60, "general"),
    "12119000": (1.0, 200, "general"),
    "10063000": (1.0, 8, "general"),
    "17019900": (1.0, 6, "general"),
    "64039900": (1.0, 400, "general"),
    "64041100": (0.9, 300, "general"),
    "42022100": (0.8, 2_500, "high_value"),
    "61102000": (0.4, 250, "general"),
    "61091000": (0.2, 150, "general"),
    "62046200": (0.5, 200, "general"),
    "52081200": (1.0, 40, "general"),
    "39269000": (1.0, 25, "general"),
    "39232100": (1.0, 15, "general"),
    "39011000": (1.0, 10, "general"),
    "95030000": (0.5, 60, "general"),
    "69072100": (1.0, 6, "general"),
    "48025600": (1.0, 8, "general"),
    "73089000": (1.0, 12, "general"),
    "94036000": (25.0, 60, "general"),
    "94054200": (0.5, 150, "general"),
    "84151000": (40.0, 60, "general"),
    "87032300": (1_500.0, 200, "high_value"),
    "87089900": (1.0, 80, "general"),
    "40111000": (9.0, 60, "general"),
    "85414300": (20.0, 40, "general"),
    "74031100": (1.0, 65, "general"),
    "76011000": (1.0, 20, "general"),
    "90189000": (1.0, 1_500, "general"),
    "05071000": (1.0, 80_000, "prohibited"),
    "05079000": (1.0, 20_000, "prohibited"),
    "01062000": (0.5, 3_000, "prohibited"),
    "29223900": (1.0, 300_000, "prohibited"),
    "29397100": (1.0, 800_000, "prohibited"),
}
COMMODITIES: tuple[Commodity, ...] = tuple(
    Commodity(h.hs_code, h.desc_en, h.desc_zh, h.unit, *ECONOMICS[h.hs_code]) for h in HS_CODES)
HS_INDEX: dict[str, int] = {c.hs_code: i for i, c in enumerate(COMMODITIES)}

# True goods -> the benign HS codes they are declared under by a mis-declaring trader.
MISDECLARATION_COVERS: dict[str, tuple[str, ...]] = {
    "24022000": ("39269000", "48025600", "95030000"),
    "85171300": ("95030000", "85183000", "39269000"),
    "85423100": ("94054200", "39269000"),
    "71081200": ("74031100", "73089000"),
    "22083000": ("22030000", "21069000"),
    "33049900": ("39232100", "21069000"),
}
PROHIBITED_COVERS: dict[str, tuple[str, ...]] = {
    "05071000": ("12119000", "03078700"),
    "05079000": ("03078700", "12119000", "03057100"),
    "01062000": ("03019900",),
    "29223900": ("21069000", "17019900"),
    "29397100": ("09012100", "21069000"),
}
UNDERVALUED_GOODS = ("85171300", "91021100", "33049900", "33030000", "42022100", "84713000", "85258900", "22042100", "04109000")
SPLIT_GOODS = ("85171300", "33049900", "19011000", "91021100", "85423100", "04109000")


LOCATIONS = CONTROL_POINTS
LOCATION_INDEX: dict[str, int] = {loc.code: i for i, loc in enumerate(LOCATIONS)}
CARGO_PORTS: dict[str, tuple[str, ...]] = {
    "sea": ("KCCT",),
    "river": ("RTT", "TMCA"),
    "air": ("HKIA",),
    "land": ("LMC", "SBC", "HZMB", "HYW", "MKT", "STK"),
}
LAND_CARGO_POINTS = CARGO_PORTS["land"]
CASH_POINTS = ("HKIA", "LMC", "LMCSL", "SBC", "HZMB", "HYW", "CFT")
MODES = ("sea", "air", "land", "river")

CURRENCIES = ("HKD", "USD", "CNY")

COUNTRY_WEIGHTS: dict[str, float] = {
    # ISO2 -> weight among this world's trade partners
    "CN": 0.42, "JP": 0.06, "KR": 0.05, "TW": 0.06, "US": 0.06, "SG": 0.04, "MY": 0.03, "TH": 0.03, "VN": 0.04,
    "DE": 0.02, "GB": 0.02, "FR": 0.02, "IT": 0.02, "AU": 0.02, "IN": 0.02, "ID": 0.02, "PH": 0.02, "AE": 0.015,
    "ZA": 0.01, "NG": 0.01, "BR": 0.01, "CH": 0.01, "NL": 0.01, "MO": 0.01, "CD": 0.005, "MZ": 0.005,
}
COUNTRIES: tuple[tuple[str, str, float], ...] = tuple((c, COUNTRY_NAMES[c], w) for c, w in COUNTRY_WEIGHTS.items())
ISO2 = tuple(c[0] for c in COUNTRIES)
HIGH_RISK_ORIGINS = ("NG", "CD", "MZ", "ZA", "AE")

FOREIGN_COMPANY_WORDS = (
    "Apex", "Atlas", "Blue", "Crown", "Delta", "Eagle", "Everest", "Falcon", "Global", "Horizon", "Imperial",
    "Keystone", "Liberty", "Meridian", "Nova", "Orion", "Pinnacle", "Quantum", "Summit", "Titan", "Vertex", "Zenith",
    "Sakura", "Hanil", "Sunrise", "Lion", "Tiger", "Mekong", "Harbor", "Coral", "Savanna", "Alpine", "Baltic",
)
FOREIGN_COMPANY_TRADES = ("Trading", "Exports", "Industries", "Electronics", "Foods", "Supply", "Commodities", "Logistics")
FOREIGN_SUFFIX: dict[str, str] = {
    "CN": "Co., Ltd.", "JP": "K.K.", "KR": "Co., Ltd.", "TW": "Co., Ltd.", "US": "Inc.", "SG": "Pte. Ltd.",
    "MY": "Sdn. Bhd.", "TH": "Co., Ltd.", "VN": "JSC", "DE": "GmbH", "GB": "Ltd", "FR": "SARL", "IT": "S.r.l.",
    "AU": "Pty Ltd", "IN": "Pvt. Ltd.", "ID": "PT", "PH": "Inc.", "AE": "LLC", "ZA": "(Pty) Ltd", "NG": "Ltd",
    "BR": "Ltda.", "CH": "AG", "NL": "B.V.", "MO": "Lda.", "CD": "SARL", "MZ": "Lda.",
}


DISTRICTS = tuple(dict.fromkeys(s.district_en for s in STREETS))


@dataclass(frozen=True)
class Surname:
    """A Chinese surname with its Cantonese romanisation and the other spellings systems use."""

    zh: str
    cantonese: str
    pinyin: str
    others: tuple[str, ...]


SURNAMES: tuple[Surname, ...] = (
    Surname("陳", "Chan", "Chen", ("Chun", "Chen")),
    Surname("黃", "Wong", "Huang", ("Wang", "Huang")),
    Surname("張", "Cheung", "Zhang", ("Cheong", "Chang")),
    Surname("李", "Lee", "Li", ("Li", "Lei")),
    Surname("吳", "Ng", "Wu", ("Wu", "Ung")),
    Surname("林", "Lam", "Lin", ("Lum", "Lim")),
    Surname("劉", "Lau", "Liu", ("Lao", "Liu")),
    Surname("梁", "Leung", "Liang", ("Leong", "Liang")),
    Surname("王", "Wong", "Wang", ("Wang", "Vong")),
    Surname("何", "Ho", "He", ("Hoh", "He")),
    Surname("鄭", "Cheng", "Zheng", ("Chang", "Zheng")),
    Surname("周", "Chow", "Zhou", ("Chau", "Zhou")),
    Surname("葉", "Yip", "Ye", ("Ip", "Yeh")),
    Surname("羅", "Law", "Luo", ("Lo", "Loh")),
    Surname("蔡", "Choi", "Cai", ("Tsoi", "Choy")),
    Surname("郭", "Kwok", "Guo", ("Kuok", "Kok")),
    Surname("馬", "Ma", "Ma", ("Mah", "Mar")),
    Surname("麥", "Mak", "Mai", ("Mack", "Mai")),
    Surname("譚", "Tam", "Tan", ("Tan", "Taam")),
    Surname("曾", "Tsang", "Zeng", ("Tseng", "Chang")),
    Surname("鍾", "Chung", "Zhong", ("Cheung", "Zhong")),
    Surname("楊", "Yeung", "Yang", ("Yang", "Young")),
    Surname("胡", "Wu", "Hu", ("Woo", "Hu")),
    Surname("朱", "Chu", "Zhu", ("Choo", "Zhu")),
    Surname("謝", "Tse", "Xie", ("Tse", "Che")),
)


@dataclass(frozen=True)
class GivenName:
    """A given name in Chinese with its Cantonese and pinyin romanisations."""

    zh: str
    cantonese: str
    pinyin: str


GIVEN_NAMES: tuple[GivenName, ...] = (
    GivenName("大文", "Tai Man", "Dawen"), GivenName("小明", "Siu Ming", "Xiaoming"),
    GivenName("家豪", "Ka Ho", "Jiahao"), GivenName("志強", "Chi Keung", "Zhiqiang"),
    GivenName("美玲", "Mei Ling", "Meiling"), GivenName("嘉欣", "Ka Yan", "Jiaxin"),
    GivenName("偉明", "Wai Ming", "Weiming"), GivenName("國華", "Kwok Wah", "Guohua"),
    GivenName("淑儀", "Suk Yee", "Shuyi"), GivenName("建華", "Kin Wah", "Jianhua"),
    GivenName("子晴", "Tsz Ching", "Ziqing"), GivenName("俊傑", "Chun Kit", "Junjie"),
    GivenName("詠詩", "Wing Sze", "Yongshi"), GivenName("浩然", "Ho Yin", "Haoran"),
    GivenName("永康", "Wing Hong", "Yongkang"), GivenName("麗華", "Lai Wah", "Lihua"),
    GivenName("振邦", "Chun Bong", "Zhenbang"), GivenName("家明", "Ka Ming", "Jiaming"),
    GivenName("秀英", "Sau Ying", "Xiuying"), GivenName("德華", "Tak Wah", "Dehua"),
    GivenName("少芬", "Siu Fan", "Shaofen"), GivenName("錦輝", "Kam Fai", "Jinhui"),
    GivenName("志偉", "Chi Wai", "Zhiwei"), GivenName("玉珍", "Yuk Chun", "Yuzhen"),
    GivenName("偉", "Wai", "Wei"), GivenName("芳", "Fong", "Fang"), GivenName("敏", "Man", "Min"),
    GivenName("靜", "Ching", "Jing"), GivenName("磊", "Lui", "Lei"), GivenName("軍", "Kwan", "Jun"),
)

COMPANY_WORDS: tuple[tuple[str, str], ...] = (
    ("Golden Harbour", "金港"), ("Pacific Dragon", "太平龍"), ("Jade Star", "翠星"), ("Ever Bright", "永明"),
    ("Wing Fat", "永發"), ("Tak Shing", "德成"), ("Hang Fung", "恒豐"), ("Kwong Hing", "廣興"),
    ("Sun Hing", "新興"), ("Fortune Bay", "福灣"), ("Great Wall", "長城"), ("Oriental Pearl", "東方明珠"),
    ("Silver Ocean", "銀洋"), ("Grand River", "宏河"), ("Rich Field", "富田"), ("Prosper Sky", "昌天"),
    ("Victory Bridge", "勝橋"), ("Eastern Peak", "東峰"), ("Royal Lotus", "皇蓮"), ("Lucky Star", "福星"),
    ("Yuen Fat", "源發"), ("Man Lee", "萬利"), ("Chung Wah", "中華"), ("Kam Lung", "金龍"), ("Fook Tak", "福德"),
    ("Asia Link", "亞聯"), ("Treasure Coast", "寶岸"), ("Unity Wave", "合濤"), ("Phoenix Gate", "鳳門"),
    ("Hoi Tin", "海天"), ("Shun Tak", "信德"), ("Tai Sang", "大生"), ("Wah Kee", "華記"), ("Hop Yick", "合益"),
    ("New Century", "新世紀"), ("Bright Moon", "明月"), ("Blue Sea", "藍海"), ("Red Phoenix", "紅鳳"),
)
COMPANY_TRADES: tuple[tuple[str, str], ...] = (
    ("Trading", "貿易"), ("Logistics", "物流"), ("Import & Export", "進出口"), ("Electronics", "電子"),
    ("Seafood", "海產"), ("Enterprise", "企業"), ("Development", "發展"), ("Freight", "貨運"),
    ("Holdings", "控股"), ("Technology", "科技"), ("Industrial", "實業"), ("International", "國際"),
    ("Supply Chain", "供應鏈"), ("Food", "食品"), ("Jewellery", "珠寶"), ("Transportation", "運輸"),
)
COMPANY_FORMS = ("Company Limited", "Limited", "Co., Limited")
BROKER_TRADES: tuple[tuple[str, str], ...] = (
    ("Customs Brokerage", "報關"), ("Forwarding", "貨運代理"), ("Shipping Agency", "船務代理"), ("Freight Services", "貨運服務"),
)
TRADER_TYPES = ("importer", "exporter", "importer_exporter", "manufacturer", "retailer")

CONTAINER_OWNERS = CONTAINER_OWNER_CODES
VESSEL_PREFIXES = ("MSC", "OOCL", "COSCO SHIPPING", "CMA CGM", "MAERSK", "HMM", "ONE", "EVER", "YM", "WAN HAI", "ZIM", "APL")
VESSEL_WORDS = (
    "HONG KONG", "SHANGHAI", "ORION", "AQUARIUS", "PEGASUS", "ATLAS", "GENEVA", "BEIJING", "LOTUS", "HARMONY",
    "PIONEER", "SPIRIT", "GLORY", "TRIUMPH", "EXCELLENCE", "NEPTUNE", "JASMINE", "PEARL", "SUMMIT", "UNITY",
)
RIVER_VESSEL_WORDS = ("XIN HAI", "YUE HUO", "ZHU JIANG", "GANG LIAN", "DONG GUAN", "SHUN DE", "NAN SHA", "HE SHAN")
VESSEL_FLAGS = ("HK", "PA", "LR", "MH", "SG", "CN", "MT", "BS")
AIRLINES = (("CX", "Cathay Pacific Cargo"), ("LD", "Air Hong Kong"), ("FX", "FedEx Express"), ("5X", "UPS Airlines"),
            ("CK", "China Cargo Airlines"), ("SQ", "Singapore Airlines Cargo"), ("EK", "Emirates SkyCargo"),
            ("K4", "Kalitta Air"), ("CI", "China Airlines Cargo"), ("UO", "HK Express"))
VEHICLE_TYPES = ("container tractor", "heavy goods vehicle", "medium goods vehicle", "light goods vehicle")

CASH_INSTRUMENTS = ("cash", "cheque", "bearer bond", "promissory note", "traveller's cheque")
CASH_PURPOSES = ("trade settlement", "business purchase", "personal travel", "investment", "family support", "gold purchase", "casino")

OFFENCES = (
    "smuggling of goods", "dutiable commodities offence", "endangered species trafficking", "dangerous drugs trafficking",
    "trade descriptions (false declaration)", "import and export declaration offence", "unlicensed fuel dealing",
    "cross-boundary currency declaration offence",
)
CASE_STATUSES = ("under investigation", "prosecution", "closed")
DISPOSALS = ("convicted", "acquitted", "no further action", "compounded", "goods forfeited")
PARTY_ROLES = ("arrested", "suspect", "company", "witness")

PLATFORM_USERS: tuple[tuple[str, str], ...] = (
    ("analyst01", "analyst"), ("analyst02", "analyst"), ("analyst03", "analyst"), ("analyst04", "analyst"),
    ("analyst05", "analyst"), ("analyst06", "analyst"), ("analyst07", "analyst"), ("analyst08", "analyst"),
    ("modeller01", "modeller"), ("modeller02", "modeller"), ("modeller03", "modeller"),
    ("manager01", "manager"), ("manager02", "manager"), ("manager03", "manager"),
    ("field01", "field"), ("field02", "field"), ("field03", "field"), ("field04", "field"),
    ("admin01", "admin"), ("admin02", "admin"),
)
DISABLED_USER = "contractor07"
LOG_ACTIONS = ("login_ok", "login_failed", "query", "export", "view_dashboard", "role_change", "logout", "access_denied")
LOG_RESOURCES = (
    "curated.declarations", "curated.traders", "curated.crossings", "curated.cash_declarations", "curated.cases",
    "curated.seizures", "curated.people", "curated.vehicles", "raw.documents", "app.risk_dashboard", "app.network_explorer",
)

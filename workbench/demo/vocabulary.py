"""Reference data of the synthetic Hong Kong customs world.

Everything here is fixed, hand-written vocabulary (HS codes, control points, streets,
surnames, company-name parts ...). The generators only ever index into these tuples,
so the world's realism lives in one place and the generators stay free of literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


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
    """One HK-HS 8-digit code with its bilingual description and typical economics."""

    hs_code: str
    desc_en: str
    desc_zh: str
    unit: str
    kg_per_unit: float
    hkd_per_kg: float
    category: str  # general | high_value | dutiable | prohibited


COMMODITIES: tuple[Commodity, ...] = (
    Commodity("85171300", "Smartphones", "智能手機", "PCS", 0.4, 10_000, "high_value"),
    Commodity("85171400", "Other mobile telephones", "其他流動電話", "PCS", 0.2, 1_500, "general"),
    Commodity("84713000", "Portable computers (laptops)", "手提電腦", "PCS", 2.0, 3_500, "high_value"),
    Commodity("84715000", "Computer processing units", "電腦處理器單元", "PCS", 8.0, 1_200, "general"),
    Commodity("85423100", "Integrated circuits: processors and controllers", "集成電路：處理器及控制器", "PCS", 0.005, 60_000, "high_value"),
    Commodity("85423200", "Integrated circuits: memories", "集成電路：記憶體", "PCS", 0.005, 40_000, "high_value"),
    Commodity("85235100", "Solid-state non-volatile storage devices", "固態非揮發性儲存裝置", "PCS", 0.05, 8_000, "high_value"),
    Commodity("85076000", "Lithium-ion accumulators", "鋰離子蓄電池", "PCS", 0.3, 300, "general"),
    Commodity("85183000", "Headphones and earphones", "耳機", "PCS", 0.2, 1_500, "general"),
    Commodity("85287200", "Colour television receivers", "彩色電視接收器", "PCS", 15.0, 250, "general"),
    Commodity("85258900", "Digital cameras", "數碼相機", "PCS", 0.6, 5_000, "high_value"),
    Commodity("88062200", "Unmanned aircraft (drones)", "無人駕駛航空器", "PCS", 1.0, 5_000, "high_value"),
    Commodity("91021100", "Wrist-watches, electrically operated", "電子手錶", "PCS", 0.1, 20_000, "high_value"),
    Commodity("91011100", "Wrist-watches with case of precious metal", "貴金屬錶殼手錶", "PCS", 0.15, 300_000, "high_value"),
    Commodity("71081200", "Gold, unwrought, non-monetary", "未經鍛造非貨幣黃金", "KG", 1.0, 450_000, "high_value"),
    Commodity("71131900", "Jewellery of precious metal", "貴金屬首飾", "KG", 1.0, 200_000, "high_value"),
    Commodity("71023900", "Diamonds, non-industrial, worked", "已加工非工業用鑽石", "CT", 0.0002, 50_000_000, "high_value"),
    Commodity("24022000", "Cigarettes containing tobacco", "含煙草香煙", "STK", 0.00125, 400, "dutiable"),
    Commodity("24031900", "Smoking tobacco", "煙絲", "KG", 1.0, 300, "dutiable"),
    Commodity("22083000", "Whiskies", "威士忌", "L", 1.4, 400, "dutiable"),
    Commodity("22042100", "Wine in containers of 2 litres or less", "葡萄酒（兩公升或以下容器）", "L", 1.3, 250, "general"),
    Commodity("22030000", "Beer made from malt", "麥芽啤酒", "L", 1.1, 15, "general"),
    Commodity("27101900", "Diesel and fuel oil", "柴油及燃油", "L", 0.85, 7, "dutiable"),
    Commodity("27111200", "Propane, liquefied", "液化丙烷", "KG", 1.0, 5, "general"),
    Commodity("30049000", "Medicaments, packaged for retail sale", "零售包裝藥物", "KG", 1.0, 800, "general"),
    Commodity("30021500", "Immunological products", "免疫產品", "KG", 1.0, 5_000, "high_value"),
    Commodity("33049900", "Beauty and skin-care preparations", "美容及護膚品", "KG", 1.0, 600, "high_value"),
    Commodity("33030000", "Perfumes and toilet waters", "香水及花露水", "L", 1.0, 1_000, "high_value"),
    Commodity("19011000", "Infant formula", "嬰兒配方奶粉", "KG", 1.0, 150, "general"),
    Commodity("04109000", "Edible bird's nest", "食用燕窩", "KG", 1.0, 20_000, "high_value"),
    Commodity("03078700", "Abalone, dried", "乾鮑魚", "KG", 1.0, 1_500, "general"),
    Commodity("03074300", "Cuttlefish and squid, frozen", "冷藏墨魚及魷魚", "KG", 1.0, 40, "general"),
    Commodity("03061700", "Shrimps and prawns, frozen", "冷藏蝦", "KG", 1.0, 70, "general"),
    Commodity("03019900", "Live fish", "活魚", "KG", 1.0, 150, "general"),
    Commodity("03057100", "Shark fins, dried", "乾魚翅", "KG", 1.0, 2_500, "high_value"),
    Commodity("02023000", "Bovine meat, boneless, frozen", "冷藏無骨牛肉", "KG", 1.0, 45, "general"),
    Commodity("02071400", "Chicken cuts and offal, frozen", "冷藏雞件及雜碎", "KG", 1.0, 15, "general"),
    Commodity("09012100", "Coffee, roasted", "已烘焙咖啡", "KG", 1.0, 120, "general"),
    Commodity("21069000", "Food preparations n.e.s.", "其他食物製品", "KG", 1.0, 60, "general"),
    Commodity("12119000", "Chinese herbal medicine (plants)", "中藥材", "KG", 1.0, 200, "general"),
    Commodity("10063000", "Rice, milled", "白米", "KG", 1.0, 8, "general"),
    Commodity("17019900", "Refined cane sugar", "精製蔗糖", "KG", 1.0, 6, "general"),
    Commodity("64039900", "Footwear with leather uppers", "皮面鞋履", "PRS", 1.0, 400, "general"),
    Commodity("64041100", "Sports footwear", "運動鞋", "PRS", 0.9, 300, "general"),
    Commodity("42022100", "Handbags with outer surface of leather", "皮革外層手袋", "PCS", 0.8, 2_500, "high_value"),
    Commodity("61102000", "Jerseys and pullovers of cotton", "棉質針織套衫", "PCS", 0.4, 250, "general"),
    Commodity("61091000", "T-shirts of cotton", "棉質T恤", "PCS", 0.2, 150, "general"),
    Commodity("62046200", "Women's trousers of cotton", "棉質女裝長褲", "PCS", 0.5, 200, "general"),
    Commodity("52081200", "Woven fabrics of cotton", "棉質梭織布", "KG", 1.0, 40, "general"),
    Commodity("39269000", "Other articles of plastics", "其他塑膠製品", "KG", 1.0, 25, "general"),
    Commodity("39232100", "Sacks and bags of polyethylene", "聚乙烯膠袋", "KG", 1.0, 15, "general"),
    Commodity("39011000", "Polyethylene in primary forms", "初級形狀聚乙烯", "KG", 1.0, 10, "general"),
    Commodity("95030000", "Toys", "玩具", "PCS", 0.5, 60, "general"),
    Commodity("69072100", "Ceramic tiles", "瓷磚", "KG", 1.0, 6, "general"),
    Commodity("48025600", "Uncoated paper", "未塗布紙張", "KG", 1.0, 8, "general"),
    Commodity("73089000", "Structures of iron or steel", "鋼鐵結構件", "KG", 1.0, 12, "general"),
    Commodity("94036000", "Wooden furniture", "木傢具", "PCS", 25.0, 60, "general"),
    Commodity("94054200", "LED lamps and lighting fittings", "LED燈具", "PCS", 0.5, 150, "general"),
    Commodity("84151000", "Air conditioners, window or wall type", "窗口式或牆壁式冷氣機", "PCS", 40.0, 60, "general"),
    Commodity("87032300", "Motor cars, 1500-3000 cc", "汽車（1500至3000毫升）", "PCS", 1_500.0, 200, "high_value"),
    Commodity("87089900", "Parts of motor vehicles", "汽車零件", "KG", 1.0, 80, "general"),
    Commodity("40111000", "New pneumatic tyres for motor cars", "汽車用新充氣輪胎", "PCS", 9.0, 60, "general"),
    Commodity("85414300", "Photovoltaic modules", "太陽能光伏組件", "PCS", 20.0, 40, "general"),
    Commodity("74031100", "Refined copper cathodes", "精煉銅陰極", "KG", 1.0, 65, "general"),
    Commodity("76011000", "Aluminium, unwrought", "未鍛軋鋁", "KG", 1.0, 20, "general"),
    Commodity("90189000", "Medical instruments and appliances", "醫療器械", "KG", 1.0, 1_500, "general"),
    Commodity("05071000", "Ivory", "象牙", "KG", 1.0, 80_000, "prohibited"),
    Commodity("05079000", "Pangolin scales", "穿山甲鱗片", "KG", 1.0, 20_000, "prohibited"),
    Commodity("01062000", "Live reptiles (turtles and tortoises)", "活爬行動物（龜鱉）", "PCS", 0.5, 3_000, "prohibited"),
    Commodity("29223900", "Ketamine", "氯胺酮", "KG", 1.0, 300_000, "prohibited"),
    Commodity("29397100", "Cocaine", "可卡因", "KG", 1.0, 800_000, "prohibited"),
)
HS_INDEX: dict[str, int] = {c.hs_code: i for i, c in enumerate(COMMODITIES)}
QUANTITY_UNITS = ("PCS", "KG", "L", "STK", "PRS", "CT")

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


@dataclass(frozen=True)
class Location:
    """A port or land boundary control point."""

    code: str
    name_en: str
    name_zh: str
    kind: str  # land | sea | river | air
    lat: float
    lon: float


LOCATIONS: tuple[Location, ...] = (
    Location("LMC", "Lok Ma Chau Control Point", "落馬洲管制站", "land", 22.5148, 114.0659),
    Location("LMCSL", "Lok Ma Chau Spur Line Control Point", "落馬洲支線管制站", "land", 22.5142, 114.0685),
    Location("SBC", "Shenzhen Bay Control Point", "深圳灣管制站", "land", 22.5035, 113.9446),
    Location("HZMB", "Hong Kong-Zhuhai-Macao Bridge Hong Kong Port", "港珠澳大橋香港口岸", "land", 22.3198, 113.9452),
    Location("HYW", "Heung Yuen Wai Control Point", "香園圍管制站", "land", 22.5626, 114.1694),
    Location("MKT", "Man Kam To Control Point", "文錦渡管制站", "land", 22.5359, 114.1297),
    Location("STK", "Sha Tau Kok Control Point", "沙頭角管制站", "land", 22.5448, 114.2213),
    Location("KCCT", "Kwai Chung Container Terminals", "葵涌貨櫃碼頭", "sea", 22.3414, 114.1185),
    Location("RTT", "River Trade Terminal", "內河貨運碼頭", "river", 22.3722, 113.9636),
    Location("TMCA", "Tuen Mun Public Cargo Working Area", "屯門公眾貨物裝卸區", "river", 22.3756, 113.9717),
    Location("CFT", "China Ferry Terminal", "中國客運碼頭", "sea", 22.2986, 114.1672),
    Location("HKIA", "Hong Kong International Airport (Air Cargo)", "香港國際機場（空運貨物）", "air", 22.3080, 113.9185),
)
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

COUNTRIES: tuple[tuple[str, str, float], ...] = (
    # ISO2, English name, weight among trade partners
    ("CN", "China", 0.42), ("JP", "Japan", 0.06), ("KR", "Korea", 0.05), ("TW", "Taiwan", 0.06),
    ("US", "United States", 0.06), ("SG", "Singapore", 0.04), ("MY", "Malaysia", 0.03),
    ("TH", "Thailand", 0.03), ("VN", "Viet Nam", 0.04), ("DE", "Germany", 0.02), ("GB", "United Kingdom", 0.02),
    ("FR", "France", 0.02), ("IT", "Italy", 0.02), ("AU", "Australia", 0.02), ("IN", "India", 0.02),
    ("ID", "Indonesia", 0.02), ("PH", "Philippines", 0.02), ("AE", "United Arab Emirates", 0.015),
    ("ZA", "South Africa", 0.01), ("NG", "Nigeria", 0.01), ("BR", "Brazil", 0.01), ("CH", "Switzerland", 0.01),
    ("NL", "Netherlands", 0.01), ("MO", "Macao", 0.01), ("CD", "Congo (DR)", 0.005), ("MZ", "Mozambique", 0.005),
)
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


@dataclass(frozen=True)
class Street:
    """A Hong Kong street with its district, in English and Chinese."""

    en: str
    zh: str
    district_en: str
    district_zh: str


STREETS: tuple[Street, ...] = (
    Street("Tai Lin Pai Road", "大連排道", "Kwai Chung", "葵涌"),
    Street("Kwai Fung Crescent", "葵豐街", "Kwai Chung", "葵涌"),
    Street("Castle Peak Road", "青山道", "Cheung Sha Wan", "長沙灣"),
    Street("Nathan Road", "彌敦道", "Mong Kok", "旺角"),
    Street("Nathan Road", "彌敦道", "Tsim Sha Tsui", "尖沙咀"),
    Street("Des Voeux Road Central", "德輔道中", "Central", "中環"),
    Street("Queen's Road Central", "皇后大道中", "Central", "中環"),
    Street("Hennessy Road", "軒尼詩道", "Wan Chai", "灣仔"),
    Street("King's Road", "英皇道", "North Point", "北角"),
    Street("Hoi Yuen Road", "開源道", "Kwun Tong", "觀塘"),
    Street("How Ming Street", "巧明街", "Kwun Tong", "觀塘"),
    Street("Wai Yip Street", "偉業街", "Kwun Tong", "觀塘"),
    Street("Lai Chi Kok Road", "荔枝角道", "Sham Shui Po", "深水埗"),
    Street("Un Chau Street", "元州街", "Sham Shui Po", "深水埗"),
    Street("Sha Tsui Road", "沙咀道", "Tsuen Wan", "荃灣"),
    Street("Yeung Uk Road", "楊屋道", "Tsuen Wan", "荃灣"),
    Street("Tsing Yi Road", "青衣路", "Tsing Yi", "青衣"),
    Street("Kin Wing Street", "建榮街", "Tuen Mun", "屯門"),
    Street("Kau Yuk Road", "教育路", "Yuen Long", "元朗"),
    Street("San Hong Street", "新康街", "Sheung Shui", "上水"),
    Street("Jockey Club Road", "馬會道", "Fanling", "粉嶺"),
    Street("Dai Fu Street", "大富街", "Tai Po", "大埔"),
    Street("Siu Lek Yuen Road", "小瀝源路", "Sha Tin", "沙田"),
    Street("Shanghai Street", "上海街", "Yau Ma Tei", "油麻地"),
    Street("Ma Tau Wai Road", "馬頭圍道", "Hung Hom", "紅磡"),
    Street("Sheung Yuet Road", "常悅道", "Kowloon Bay", "九龍灣"),
    Street("Lee Chung Street", "利眾街", "Chai Wan", "柴灣"),
    Street("Wong Chuk Hang Road", "黃竹坑道", "Wong Chuk Hang", "黃竹坑"),
    Street("Bonham Strand", "文咸東街", "Sheung Wan", "上環"),
    Street("Percival Street", "波斯富街", "Causeway Bay", "銅鑼灣"),
    Street("Tin Shui Road", "天瑞路", "Tin Shui Wai", "天水圍"),
    Street("Sha Tau Kok Road", "沙頭角公路", "Ta Kwu Ling", "打鼓嶺"),
)
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

CONTAINER_OWNERS = ("MSCU", "OOLU", "CSNU", "HLXU", "TGHU", "MAEU", "CMAU", "EGHU", "TCNU", "SEGU", "BMOU", "TRHU")
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

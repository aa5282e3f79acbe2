"""Hong Kong places: boundary control points and cargo terminals, districts and streets, in English and Chinese.

Public geography (HKSAR Government names and the 18 District Council districts with the
areas people write in addresses). The analytics read it to normalise addresses and to
label ports; the demo generator draws addresses and ports from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ControlPoint:
    """A port or land boundary control point."""

    code: str
    name_en: str
    name_zh: str
    kind: str  # land | sea | river | air
    lat: float
    lon: float


CONTROL_POINTS: tuple[ControlPoint, ...] = (
    ControlPoint("LMC", "Lok Ma Chau Control Point", "落馬洲管制站", "land", 22.5148, 114.0659),
    ControlPoint("LMCSL", "Lok Ma Chau Spur Line Control Point", "落馬洲支線管制站", "land", 22.5142, 114.0685),
    ControlPoint("SBC", "Shenzhen Bay Control Point", "深圳灣管制站", "land", 22.5035, 113.9446),
    ControlPoint("HZMB", "Hong Kong-Zhuhai-Macao Bridge Hong Kong Port", "港珠澳大橋香港口岸", "land", 22.3198, 113.9452),
    ControlPoint("HYW", "Heung Yuen Wai Control Point", "香園圍管制站", "land", 22.5626, 114.1694),
    ControlPoint("MKT", "Man Kam To Control Point", "文錦渡管制站", "land", 22.5359, 114.1297),
    ControlPoint("STK", "Sha Tau Kok Control Point", "沙頭角管制站", "land", 22.5448, 114.2213),
    ControlPoint("KCCT", "Kwai Chung Container Terminals", "葵涌貨櫃碼頭", "sea", 22.3414, 114.1185),
    ControlPoint("RTT", "River Trade Terminal", "內河貨運碼頭", "river", 22.3722, 113.9636),
    ControlPoint("TMCA", "Tuen Mun Public Cargo Working Area", "屯門公眾貨物裝卸區", "river", 22.3756, 113.9717),
    ControlPoint("CFT", "China Ferry Terminal", "中國客運碼頭", "sea", 22.2986, 114.1672),
    ControlPoint("HKIA", "Hong Kong International Airport (Air Cargo)", "香港國際機場（空運貨物）", "air", 22.3080, 113.9185),)
CONTROL_POINT_INDEX: dict[str, int] = {p.code: i for i, p in enumerate(CONTROL_POINTS)}


@dataclass(frozen=True)
class Street:
    """A Hong Kong street with the area it runs through, in English and Chinese."""

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
    Street("Sha Tau Kok Road", "沙頭角公路", "Ta Kwu Ling", "打鼓嶺"),)

AREAS: dict[str, str] = {
    # the 18 districts
    "中西區": "CENTRAL AND WESTERN", "灣仔": "WAN CHAI", "東區": "EASTERN", "南區": "SOUTHERN",
    "油尖旺": "YAU TSIM MONG", "深水埗": "SHAM SHUI PO", "九龍城": "KOWLOON CITY", "黃大仙": "WONG TAI SIN",
    "觀塘": "KWUN TONG", "荃灣": "TSUEN WAN", "屯門": "TUEN MUN", "元朗": "YUEN LONG", "北區": "NORTH",
    "大埔": "TAI PO", "西貢": "SAI KUNG", "沙田": "SHA TIN", "葵青": "KWAI TSING", "離島": "ISLANDS",
    # areas written in addresses
    "中環": "CENTRAL", "上環": "SHEUNG WAN", "西環": "SAI WAN", "金鐘": "ADMIRALTY", "銅鑼灣": "CAUSEWAY BAY",
    "北角": "NORTH POINT", "鰂魚涌": "QUARRY BAY", "筲箕灣": "SHAU KEI WAN", "柴灣": "CHAI WAN",
    "香港仔": "ABERDEEN", "黃竹坑": "WONG CHUK HANG", "鴨脷洲": "AP LEI CHAU", "尖沙咀": "TSIM SHA TSUI",
    "油麻地": "YAU MA TEI", "旺角": "MONG KOK", "太子": "PRINCE EDWARD", "大角咀": "TAI KOK TSUI",
    "長沙灣": "CHEUNG SHA WAN", "荔枝角": "LAI CHI KOK", "美孚": "MEI FOO", "紅磡": "HUNG HOM",
    "土瓜灣": "TO KWA WAN", "何文田": "HO MAN TIN", "九龍灣": "KOWLOON BAY", "牛頭角": "NGAU TAU KOK",
    "新蒲崗": "SAN PO KONG", "慈雲山": "TSZ WAN SHAN", "將軍澳": "TSEUNG KWAN O", "葵涌": "KWAI CHUNG",
    "葵芳": "KWAI FONG", "青衣": "TSING YI", "天水圍": "TIN SHUI WAI", "上水": "SHEUNG SHUI", "粉嶺": "FANLING",
    "打鼓嶺": "TA KWU LING", "沙頭角": "SHA TAU KOK", "馬鞍山": "MA ON SHAN", "火炭": "FO TAN", "大圍": "TAI WAI",
    "東涌": "TUNG CHUNG", "赤鱲角": "CHEK LAP KOK", "九龍": "KOWLOON", "新界": "NEW TERRITORIES",
    "香港": "HONG KONG",
}
"""Chinese name -> English name of Hong Kong districts and the areas addresses name."""

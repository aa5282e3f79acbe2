"""General-usage vocabulary the NLP corpus writes its documents from.

Everything here is general knowledge of Hong Kong and its trade, written for this package:
common Chinese surnames with their Hong Kong government (Cantonese) and pinyin
romanisations, given-name syllables and characters, the words trading firms and ships
are named with, places, and goods as press releases and street language name them, per
report topic. Nothing is taken from the synthetic world's generator (``workbench.demo``):
its documents are an evaluation set for the tagger, and a corpus that shared its name
pools would make that evaluation a lookup.
"""

from __future__ import annotations

from typing import NamedTuple


class Surname(NamedTuple):
    """A surname in characters, its Hong Kong romanisations (most common first) and its pinyin."""

    zh: str
    cantonese: tuple[str, ...]
    pinyin: str


SURNAMES: tuple[Surname, ...] = (
    Surname("陳", ("Chan", "Chen"), "Chen"), Surname("李", ("Lee", "Li"), "Li"), Surname("張", ("Cheung", "Chang"), "Zhang"),
    Surname("黃", ("Wong", "Huang"), "Huang"), Surname("王", ("Wong", "Wang"), "Wang"), Surname("林", ("Lam", "Lum"), "Lin"),
    Surname("劉", ("Lau", "Lao"), "Liu"), Surname("吳", ("Ng", "Wu"), "Wu"), Surname("梁", ("Leung", "Liang"), "Liang"),
    Surname("何", ("Ho", "Hoh"), "He"), Surname("郭", ("Kwok", "Kuo"), "Guo"), Surname("馬", ("Ma", "Mah"), "Ma"),
    Surname("羅", ("Law", "Lo"), "Luo"), Surname("鄭", ("Cheng", "Chang"), "Zheng"), Surname("謝", ("Tse", "Tsia"), "Xie"),
    Surname("鄧", ("Tang", "Teng"), "Deng"), Surname("許", ("Hui", "Hsu"), "Xu"), Surname("朱", ("Chu", "Chue"), "Zhu"),
    Surname("胡", ("Wu", "Woo"), "Hu"), Surname("曾", ("Tsang", "Tseng"), "Zeng"), Surname("葉", ("Yip", "Ip"), "Ye"),
    Surname("蘇", ("So", "Soo"), "Su"), Surname("盧", ("Lo", "Lu"), "Lu"), Surname("周", ("Chow", "Chau"), "Zhou"),
    Surname("蔡", ("Choi", "Tsoi"), "Cai"), Surname("麥", ("Mak", "Mok"), "Mai"), Surname("馮", ("Fung", "Feng"), "Feng"),
    Surname("袁", ("Yuen",), "Yuan"), Surname("楊", ("Yeung", "Yang"), "Yang"), Surname("潘", ("Poon", "Pun"), "Pan"),
    Surname("杜", ("To", "Tou"), "Du"), Surname("莫", ("Mok",), "Mo"), Surname("彭", ("Pang",), "Peng"),
    Surname("姚", ("Yiu",), "Yao"), Surname("鍾", ("Chung",), "Zhong"), Surname("江", ("Kong",), "Jiang"),
    Surname("譚", ("Tam", "Tan"), "Tan"), Surname("余", ("Yu", "Yue"), "Yu"), Surname("關", ("Kwan",), "Guan"),
    Surname("區", ("Au", "Ou"), "Ou"), Surname("石", ("Shek",), "Shi"), Surname("岑", ("Shum", "Sham"), "Cen"),
    Surname("嚴", ("Yim",), "Yan"), Surname("韋", ("Wai",), "Wei"), Surname("孔", ("Hung",), "Kong"),
    Surname("翁", ("Yung",), "Weng"), Surname("戴", ("Tai",), "Dai"), Surname("范", ("Fan",), "Fan"),
    Surname("邱", ("Yau", "Hau"), "Qiu"), Surname("湯", ("Tong",), "Tang"), Surname("傅", ("Fu",), "Fu"),
    Surname("賴", ("Lai",), "Lai"), Surname("溫", ("Wan",), "Wen"), Surname("游", ("Yau",), "You"),
    Surname("龐", ("Pong",), "Pang"), Surname("薛", ("Sit",), "Xue"), Surname("侯", ("Hau",), "Hou"),
    Surname("歐陽", ("Au Yeung", "Auyeung"), "Ouyang"), Surname("司徒", ("Szeto", "Seto"), "Situ"),
    Surname("上官", ("Sheung Kwun",), "Shangguan"), Surname("諸葛", ("Chu Kot",), "Zhuge"),
)
"""Common surnames, including the compound ones that a tagger must not cut after one character."""

GIVEN_SYLLABLES = ("Ka", "Wing", "Yan", "Chun", "Kit", "Hoi", "Lok", "Tsz", "Hin", "Pui", "Sze", "Yuen", "Kwan",
                   "Fai", "Shing", "Hung", "Keung", "Yiu", "Wai", "Ting", "On", "Chi", "Yee", "Lai", "Kin", "Tak",
                   "Man", "Ho", "Nga", "Suet", "Kei", "Yat", "Mei", "Fung", "Sum", "Bo", "Cheuk", "Long", "Hei",
                   "Siu", "Kwok", "Kam", "Sau", "Yuk", "Wun", "Tung", "Hiu", "Shan", "Chiu", "Pak", "Ngai", "Tsun")
"""Syllables of Cantonese given names in Hong Kong government romanisation."""
GIVEN_PINYIN = ("Jun", "Hao", "Xin", "Yu", "Tao", "Lei", "Feng", "Qiang", "Ying", "Hui", "Ming", "Jie", "Bin",
                "Rui", "Xiang", "Yan", "Peng", "Lin", "Na", "Gang", "Wen", "Chao", "Dong", "Kai", "Xiao", "Jian")
WESTERN_GIVEN = ("Jason", "Michelle", "Kelvin", "Winnie", "Raymond", "Ivy", "Terence", "Joyce", "Alvin", "Karen",
                 "Dickson", "Fiona", "Eric", "Candy", "Wilson", "Gary", "Queenie", "Patrick", "Vincent", "Ricky",
                 "Samuel", "Tiffany", "Ben", "Zoe", "Hilda", "Marco", "Sunny", "Bonnie")
OTHER_PEOPLE = ("Singh Harpreet", "Ahmed KHAN", "Nguyen Van Thanh", "Maria SANTOS", "Tanaka Hiroshi",
                "Juan PEREZ", "Kumar RAJESH", "Olga PETROVA", "Budi SANTOSO", "David MILLER", "Abdul Karim",
                "Sergei IVANOV", "Tran Thi Mai", "Omar FAROUK", "Emeka Okafor", "Jose Reyes", "Anil Sharma",
                "Fatima Bello", "Park Min-jun", "Somchai Wongsa", "Ali Reza", "Mustafa Yilmaz")
OTHER_PEOPLE_ZH = ("阿卜杜勒", "伊萬諾夫", "阮氏梅", "山田太郎", "辛格", "卡里姆", "奧卡福", "桑托斯", "彼得羅娃",
                   "朴敏俊", "法魯克", "夏爾馬")
"""Foreign names as Chinese reports transliterate them."""
GIVEN_ZH = ("子軒", "浩賢", "嘉怡", "曉彤", "卓謙", "芷晴", "樂天", "凱琳", "俊宏", "淑貞", "詠琪",
            "啟明", "慧敏", "兆基", "錦泉", "婉婷", "頌恩", "天佑", "耀宗", "碧玉", "德明", "鳳儀",
            "寶珠", "偉健", "文傑", "秋萍", "朗", "欣", "峰", "豪", "婷", "健", "勇", "霞", "少雄", "玉蓮", "振華",
            "志成", "美儀", "宏達", "嘉敏", "偉業", "曉晴", "家輝", "麗珊", "永強", "耀輝", "淑芬", "國棟", "雅詩")
NICKNAME_HEADS = ("Ah", "Ah", "Fat", "Big", "Little")
"""How nicknames start in Hong Kong English reports (``Ah Keung``, ``Fat Wai``)."""
NICKNAME_HEADS_ZH = ("阿", "阿", "肥", "大", "細", "老")

ORG_WORDS = (("Sunrise", "旭日"), ("Kingsway", "景威"), ("Everwin", "恒勝"), ("Hopewell", "合和"),
             ("Luckyway", "福運"), ("Sea Crown", "海冠"), ("Wealthy Gate", "富門"), ("Tin Hau", "天后"),
             ("Long Harvest", "長豐"), ("Cosmo Bay", "宇灣"), ("Po Lee", "寶利"), ("Kam Shing", "錦城"),
             ("Fu Yuen", "富源"), ("Alpha Rise", "啟昇"), ("Nine Dragons", "九龍"),
             ("Star Bright", "星輝"), ("Sino Bridge", "華橋"), ("Ocean Tide", "海潮"), ("Mega Link", "鉅聯"),
             ("Tung Fat", "東發"), ("Yick Lee", "益利"),
             ("Delta Gateway", "珠三角"), ("Apex Wise", "睿峰"), ("Firm Rock", "堅石"), ("Hong Yip", "康業"),
             ("Sun Wah", "新華"), ("Tai Fung", "大豐"), ("Kin Lee", "建利"), ("Hing Tai", "興泰"),
             ("Shun Cheong", "順昌"), ("Full Profit", "豐利"), ("Grandview", "宏景"), ("True Honour", "信譽"),
             ("Winning Edge", "勝邦"), ("Maxim Sea", "美心海"), ("Yat Fung", "日豐"), ("Cheung Kee", "祥記"), ("Man Hing", "萬興"), ("Greenfield", "綠野"))
ORG_TRADES = (("Trading", "貿易"), ("Shipping", "船務"), ("Cargo", "貨運"), ("Commerce", "商貿"),
              ("Import Export", "進出口"), ("Import & Export", "進出口"), ("Warehouse", "倉儲"), ("Express", "速遞"),
              ("Resources", "資源"), ("Garment", "製衣"), ("Pharmacy", "藥房"), ("Motor", "汽車"), ("Energy", "能源"),
              ("Global", "環球"), ("Logistics", "物流"), ("Freight", "貨運"), ("Seafood", "海產"),
              ("Enterprise", "企業"), ("Technology", "科技"), ("Electronics", "電子"), ("Lighterage", "駁運"),
              ("Transportation", "運輸"), ("Freight Forwarding", "貨運代理"), ("Shipping Agency", "船務代理"),
              ("Investment", "投資"), ("Development", "發展"), ("Tobacco", "煙草"), ("Fuel", "燃料"))
ORG_FORMS_EN = ("Limited", "Ltd", "Ltd.", "Co. Ltd.", "Co., Ltd.", "Company Limited", "Holdings Limited",
                "(HK) Limited", "(H.K.) Ltd", "Group Ltd", "Inc.", "Co.", "Company", "LLC", "Pte. Ltd.", "Sdn. Bhd.", "")
ORG_FORMS_ZH = ("有限公司", "公司", "集團有限公司", "行", "（香港）有限公司", "控股有限公司", "")
BANKS = (("Bank of East Asia", "東亞銀行"), ("Hang Seng Bank", "恒生銀行"), ("Dah Sing Bank", "大新銀行"),
         ("Chong Hing Bank", "創興銀行"), ("Nanyang Commercial Bank", "南洋商業銀行"), ("Fubon Bank", "富邦銀行"),
         ("Public Bank", "大眾銀行"), ("Shanghai Commercial Bank", "上海商業銀行"))
CARRIERS = (("Pacific International Lines", "太平船務"), ("Evergreen Line", "長榮海運"), ("Wan Hai Lines", "萬海航運"),
            ("Yang Ming", "陽明海運"), ("COSCO Shipping", "中遠海運"), ("Hapag-Lloyd", "赫伯羅特"),
            ("Ocean Network Express", "海洋網聯"), ("Orient Overseas Container Line", "東方海外"))

PLACES = (("Kwun Tong", "觀塘"), ("Sham Shui Po", "深水埗"), ("Tsuen Wan", "荃灣"), ("Yuen Long", "元朗"),
          ("Tuen Mun", "屯門"), ("Sheung Shui", "上水"), ("Fanling", "粉嶺"), ("Tai Po", "大埔"),
          ("Sha Tin", "沙田"), ("Kwai Chung", "葵涌"), ("Tsing Yi", "青衣"), ("Mong Kok", "旺角"),
          ("Yau Ma Tei", "油麻地"), ("Wan Chai", "灣仔"), ("Chai Wan", "柴灣"), ("Aberdeen", "香港仔"),
          ("Lau Fau Shan", "流浮山"), ("Sai Kung", "西貢"), ("Tung Chung", "東涌"), ("San Tin", "新田"),
          ("Ta Kwu Ling", "打鼓嶺"), ("Sheung Wan", "上環"), ("Tsim Sha Tsui", "尖沙咀"), ("Hung Hom", "紅磡"),
          ("Kowloon Bay", "九龍灣"), ("Tin Shui Wai", "天水圍"), ("Ma On Shan", "馬鞍山"), ("Tseung Kwan O", "將軍澳"),
          ("Kennedy Town", "堅尼地城"), ("Siu Lam", "小欖"), ("Sham Tseng", "深井"), ("Ap Lei Chau", "鴨脷洲"),
          ("Lantau Island", "大嶼山"), ("Lamma Island", "南丫島"), ("Cheung Chau", "長洲"), ("Peng Chau", "坪洲"),
          ("Tap Mun", "塔門"), ("Tolo Harbour", "吐露港"), ("Mirs Bay", "大鵬灣"), ("Victoria Harbour", "維多利亞港"),
          ("Shenzhen", "深圳"), ("Dongguan", "東莞"), ("Guangzhou", "廣州"), ("Zhuhai", "珠海"), ("Macao", "澳門"),
          ("Macau", "澳門"), ("Shekou", "蛇口"), ("Huizhou", "惠州"), ("Zhongshan", "中山"), ("Jiangmen", "江門"),
          ("Xiamen", "廈門"), ("Shantou", "汕頭"), ("Singapore", "新加坡"), ("Bangkok", "曼谷"),
          ("Ho Chi Minh City", "胡志明市"), ("Haiphong", "海防"), ("Dubai", "杜拜"), ("Lagos", "拉各斯"),
          ("Mombasa", "蒙巴薩"), ("Port Klang", "巴生港"), ("Busan", "釜山"), ("Kaohsiung", "高雄"),
          ("Taipei", "台北"), ("Manila", "馬尼拉"), ("Jakarta", "雅加達"), ("Karachi", "卡拉奇"),
          ("Chittagong", "吉大港"), ("Durban", "德班"), ("Santos", "桑托斯"), ("Rotterdam", "鹿特丹"),
          ("Antwerp", "安特衛普"), ("Los Angeles", "洛杉磯"), ("Vancouver", "溫哥華"), ("Sydney", "悉尼"),
          ("Addis Ababa", "亞的斯亞貝巴"), ("Istanbul", "伊斯坦堡"), ("Nairobi", "內羅畢"), ("Dhaka", "達卡"),
          ("Vietnam", "越南"), ("Thailand", "泰國"), ("Malaysia", "馬來西亞"), ("Indonesia", "印尼"),
          ("the Philippines", "菲律賓"), ("Cambodia", "柬埔寨"), ("Nigeria", "尼日利亞"), ("Kenya", "肯尼亞"),
          ("South Africa", "南非"), ("Brazil", "巴西"), ("Mexico", "墨西哥"), ("Canada", "加拿大"),
          ("Japan", "日本"), ("Korea", "韓國"), ("Taiwan", "台灣"), ("India", "印度"), ("Pakistan", "巴基斯坦"),
          ("the United Arab Emirates", "阿聯酋"), ("the Netherlands", "荷蘭"), ("Australia", "澳洲"),
          ("Hong Kong", "香港"), ("HK", "香港"))
CONTROL_POINTS = (("Lok Ma Chau Control Point", "落馬洲管制站"), ("Lo Wu Control Point", "羅湖管制站"),
                  ("Man Kam To Control Point", "文錦渡管制站"), ("Shenzhen Bay Control Point", "深圳灣管制站"),
                  ("Heung Yuen Wai Boundary Control Point", "香園圍邊境管制站"),
                  ("Sha Tau Kok Control Point", "沙頭角管制站"), ("Hong Kong International Airport", "香港國際機場"),
                  ("Kwai Tsing Container Terminals", "葵青貨櫃碼頭"), ("Tuen Mun River Trade Terminal", "屯門內河碼頭"),
                  ("Macau Ferry Terminal", "港澳碼頭"), ("China Ferry Terminal", "中國客運碼頭"),
                  ("Kai Tak Cruise Terminal", "啟德郵輪碼頭"), ("Airport Cargo Terminal", "機場空運中心"),
                  ("Hong Kong-Zhuhai-Macao Bridge Hong Kong Port", "港珠澳大橋香港口岸"),
                  ("Lok Ma Chau Spur Line Control Point", "落馬洲支線管制站"), ("Western Anchorage", "西面錨地"),
                  ("Chai Wan Cargo Handling Basin", "柴灣貨物裝卸區"), ("Sai Wan Ho typhoon shelter", "西灣河避風塘"),
                  ("Lo Wu", "羅湖"), ("Lok Ma Chau", "落馬洲"), ("Man Kam To", "文錦渡"), ("Sha Tau Kok", "沙頭角"),
                  ("Huanggang", "皇崗"), ("Chek Lap Kok", "赤鱲角"))
COURTS = (("Kowloon City Magistrates' Courts", "九龍城裁判法院"), ("Eastern Magistrates' Courts", "東區裁判法院"),
          ("West Kowloon Magistrates' Courts", "西九龍裁判法院"), ("Kwun Tong Magistrates' Courts", "觀塘裁判法院"),
          ("Sha Tin Magistrates' Courts", "沙田裁判法院"), ("Tuen Mun Magistrates' Courts", "屯門裁判法院"),
          ("Wan Chai Law Courts", "灣仔法院大樓"))
"""Courts named after their place: tagged LOCATION whole (the place where a hearing was held)."""
FACILITIES = (("station", "站"), ("market", "街市"), ("pier", "碼頭"), ("MTR station", "地鐵站"),
              ("bus terminus", "巴士總站"), ("car park", "停車場"), ("wholesale market", "批發市場"),
              ("industrial area", "工業區"), ("public pier", "公眾碼頭"), ("checkpoint", "檢查站"))
"""Generic facility words written after a place (``Sheung Shui station``): the place alone is tagged."""
CODENAMES = (("Sea Dragon", "海龍"), ("Thunder", "雷電"), ("Iron Fist", "鐵拳"), ("Night Hawk", "夜鷹"),
             ("Red Tide", "紅潮"), ("Silver Net", "銀網"), ("Storm", "風暴"), ("Guardian", "守護"))
"""Operation code names: quoted like ship names, but not entities."""
ROADS = (("Castle Peak Road", "青山公路"), ("Lai Chi Kok Road", "荔枝角道"), ("Tuen Mun Road", "屯門公路"),
         ("Tolo Highway", "吐露港公路"), ("Fanling Highway", "粉嶺公路"), ("Kwai Chung Road", "葵涌道"),
         ("Hennessy Road", "軒尼詩道"), ("Canton Road", "廣東道"), ("Tai Lin Pai Road", "大連排道"),
         ("San Tin Highway", "新田公路"), ("Hoi Yuen Road", "開源道"), ("Un Chau Street", "元州街"))
BUILDINGS = (("Harbour Industrial Centre", "海港工業中心"), ("Wing Tai Factory Building", "永泰工廠大廈"),
             ("Golden Dragon Centre", "金龍中心"), ("Fook Yip Building", "福業大廈"), ("Eastern Mansion", "東方大廈"),
             ("Kwai Shing Industrial Building", "葵盛工業大廈"), ("Chungking Mansions", "重慶大廈"))

VESSEL_PREFIXES = ("MV", "MV", "M.V.", "M/V", "MT", "M.T.", "FV", "SS", "")
"""Operator prefixes written before a ship's name; part of the name's span."""
VESSEL_WORDS_EN = ("Sea", "Pacific", "Kota", "Nordic", "Star", "Golden", "Asian", "Ocean", "Grand", "Sinar",
                   "Jade", "Lucky", "Orient", "Silver", "Eastern", "Bright", "Royal", "Blue", "Emerald", "Morning",
                   "Northern", "Southern", "Crystal", "Ever", "Wan", "Hai", "Hua", "Fortune", "Island", "Prime")
VESSEL_TAILS_EN = ("Fortune", "Voyager", "Harvest", "Eagle", "Crown", "Dawn", "Meridian", "Blossom", "Horizon",
                   "Prosperity", "Tiger", "Link", "Wind", "Bridge", "Rainbow", "Venture", "Liberty", "Coral",
                   "Phoenix", "Dragon", "Light", "Wave", "Success", "Bay", "Jewel", "Ace", "Trader", "Express",
                   "Maju", "Jaya", "Wolf", "Swan", "Falcon", "Breeze")
VESSEL_PINYIN = ("Xin", "Hai", "Hua", "Tian", "Long", "Jin", "Fu", "Yue", "Min", "Zhe", "Lu", "Shun", "Feng",
                 "Da", "Heng", "Kang", "Xing", "Sheng", "An", "Ming", "Rong", "Tai", "Yang", "Hong")
VESSEL_ZH_CHARS = "海龍鳳金銀福祿壽順昌興隆寶利永康泰安和平明珠星輝天華新東南北洋港灣富貴吉祥勝盛豐發源遠航運達"
"""Characters Chinese hull names are built from (``海龍號``, ``金帆八號``)."""
HULL_REGIONS = ("粵東莞", "粵中山", "粵江門", "粵惠", "粵珠", "粵深", "粵湛", "閩", "浙", "穗", "港")
HULL_KINDS = ("貨", "漁", "油", "運", "拖", "工")
"""Registration-style Chinese hull numbers: region + kind + number (``粵中山貨1288``, ``粵惠漁233``)."""
VESSEL_CLASSES = (("vessel", "船隻"), ("cargo ship", "貨輪"), ("barge", "躉船"), ("tug", "拖船"),
                  ("fishing vessel", "漁船"), ("coaster", "沿岸貨船"), ("river trade vessel", "內河船"),
                  ("tanker", "油輪"), ("speedboat", "快艇"), ("lighter", "駁船"), ("feeder vessel", "支線船"),
                  ("container ship", "貨櫃船"), ("trawler", "拖網漁船"))

GOODS: dict[str, tuple[tuple[str, str], ...]] = {
    "drugs": (("heroin", "海洛英"), ("methamphetamine", "甲基安非他明"), ("crystal meth", "冰毒"),
              ("cannabis buds", "大麻花"), ("herbal cannabis", "大麻草"), ("cocaine", "可卡因"), ("ketamine", "氯胺酮"),
              ("MDMA tablets", "搖頭丸"), ("cannabis resin", "大麻樹脂"), ("etomidate e-liquid", "依托咪酯煙彈"),
              ("cannabis oil", "大麻油"), ("Ice", "冰毒"), ("liquid cocaine", "液態可卡因"), ("cannabidiol gummies", "大麻二酚軟糖"), ("nimetazepam tablets", "一粒眠"), ("cough syrup", "咳藥水")),
    "tobacco": (("duty-not-paid cigarettes", "未完稅香煙"), ("cigarettes", "香煙"), ("heated tobacco products", "加熱煙"),
                ("cigars", "雪茄"), ("hand-rolling tobacco", "手捲煙草"), ("e-cigarettes", "電子煙"),
                ("illicit cigarettes", "私煙"), ("duty-not-paid heated tobacco sticks", "未完稅加熱煙支"), ("shisha tobacco", "水煙煙草"), ("cigarette cartons", "條裝香煙"), ),
    "counterfeit": (("counterfeit handbags", "冒牌手袋"), ("fake watches", "偽冒手錶"), ("counterfeit cosmetics", "假冒化妝品"),
                    ("imitation sports shoes", "仿冒運動鞋"), ("counterfeit perfume", "冒牌香水"),
                    ("pirated earphones", "翻版耳機"), ("fake designer clothing", "冒牌名牌服裝"),
                    ("fake car parts", "冒牌汽車零件"), ("counterfeit toys", "冒牌玩具"),
                    ("counterfeit mobile phone accessories", "冒牌手機配件"), ("replica jewellery", "仿製首飾"),
                    ("counterfeit wine", "假紅酒"), ("fake cosmetics", "假化妝品")),
    "endangered_species": (("elephant tusks", "象牙"), ("rhino horn", "犀牛角"), ("pangolin scales", "穿山甲鱗片"),
                           ("live turtles", "活龜"), ("agarwood", "沉香"), ("totoaba fish maw", "石首魚花膠"),
                           ("dried seahorses", "乾海馬"), ("live tortoises", "活陸龜"), ("hornbill casques", "盔犀鳥頭骨"),
                           ("shark fins", "魚翅"), ("live birds", "活鳥"), ("dried sea horses", "海馬乾"),
                           ("American ginseng", "花旗參"), ("coral", "珊瑚")),
    "fuel": (("marked oil", "有色油"), ("diesel", "柴油"), ("unleaded petrol", "無鉛汽油"),
             ("liquefied petroleum gas", "石油氣"), ("kerosene", "火水"), ("duty-not-paid diesel", "未完稅柴油"),
             ("marine gas oil", "船用輕柴油"), ("heavy fuel oil", "重油"), ("industrial diesel", "工業柴油"),
             ("lubricating oil", "潤滑油"), ("fuel oil", "燃油")),
    "cash": (),
    "other": (("frozen beef", "冷藏牛肉"), ("mobile phones", "手提電話"), ("graphics cards", "電腦顯示卡"),
              ("milk powder", "奶粉"), ("dried sea cucumber", "乾海參"), ("copper wire", "銅線"), ("red wine", "紅酒"),
              ("electronic components", "電子零件"), ("used tyres", "舊輪胎"), ("frozen pork", "冷藏豬肉"),
              ("toy figures", "玩具公仔"), ("vitamin supplements", "維他命補充劑"), ("tablet computers", "平板電腦"),
              ("scrap metal", "廢金屬"), ("game consoles", "遊戲機"), ("bird's nest", "燕窩"),
              ("memory chips", "記憶體晶片"), ("smartphones", "智能手機"), ("solar panels", "太陽能板"),
              ("used car parts", "二手汽車零件"), ("plastic waste", "塑膠廢料"), ("gold jewellery", "金飾"), ("whisky", "威士忌"),
              ("durians", "榴槤"), ("live crabs", "活蟹"), ("timber", "木材"),
              ("cosmetics", "化妝品"), ("garments", "成衣"), ("furniture", "傢俬"),
              ("LED lamps", "LED燈"), ("drones", "無人機"),
              ),
}
"""Goods as street and press language name them, per report topic (cash reports name money, not goods)."""
GOODS_QUALIFIERS = (("frozen", "冷藏"), ("dried", "乾"), ("used", "二手"), ("second-hand", "二手"),
                    ("counterfeit", "冒牌"), ("unlicensed", "無牌"), ("unregistered", "未註冊"), ("live", "活"),
                    ("duty-not-paid", "未完稅"), ("chilled", "冰鮮"), ("refurbished", "翻新"), ("imported", "進口"))
"""Descriptive words that belong to a commodity's span (``frozen beef``); ``suspected`` and quantities do not."""
COVER_GOODS = (("garments", "成衣"), ("tea leaves", "茶葉"), ("frozen fish", "冷藏魚"), ("toys", "玩具"),
               ("household goods", "家庭用品"), ("stationery", "文具"), ("paper products", "紙製品"),
               ("bathroom fittings", "浴室配件"), ("rice", "白米"), ("bedding", "床上用品"), ("ceramic vases", "陶瓷花瓶"), ("auto parts", "汽車零件"), ("shoes", "鞋"), ("plastic pellets", "塑膠粒"), ("kitchenware", "廚具"))
"""Legitimate goods a consignment is declared as, to cover contraband."""

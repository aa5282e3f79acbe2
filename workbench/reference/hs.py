"""Hong Kong Harmonized System (HK-HS) codes: the 8-digit codes the workbench knows, with their descriptions.

Public nomenclature (the WCO Harmonized System, extended to eight digits by the HKSAR
Census and Statistics Department), in English and Traditional Chinese, with the statistical
quantity unit. Analytics (peer groups by HS-6, descriptions in dashboards) and the demo
generator both read it from here; what a commodity typically weighs or costs is the
generator's business and stays in ``workbench.demo``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HsCode:
    """One HK-HS code with its bilingual description and statistical unit."""

    hs_code: str
    desc_en: str
    desc_zh: str
    unit: str

    @property
    def chapter(self) -> str:
        return self.hs_code[:2]

    @property
    def hs6(self) -> str:
        """The international six-digit subheading (what peer comparisons group by)."""
        return self.hs_code[:6]


HS_CODES: tuple[HsCode, ...] = (
    HsCode("85171300", "Smartphones", "智能手機", "PCS"),
    HsCode("85171400", "Other mobile telephones", "其他流動電話", "PCS"),
    HsCode("84713000", "Portable computers (laptops)", "手提電腦", "PCS"),
    HsCode("84715000", "Computer processing units", "電腦處理器單元", "PCS"),
    HsCode("85423100", "Integrated circuits: processors and controllers", "集成電路：處理器及控制器", "PCS"),
    HsCode("85423200", "Integrated circuits: memories", "集成電路：記憶體", "PCS"),
    HsCode("85235100", "Solid-state non-volatile storage devices", "固態非揮發性儲存裝置", "PCS"),
    HsCode("85076000", "Lithium-ion accumulators", "鋰離子蓄電池", "PCS"),
    HsCode("85183000", "Headphones and earphones", "耳機", "PCS"),
    HsCode("85287200", "Colour television receivers", "彩色電視接收器", "PCS"),
    HsCode("85258900", "Digital cameras", "數碼相機", "PCS"),
    HsCode("88062200", "Unmanned aircraft (drones)", "無人駕駛航空器", "PCS"),
    HsCode("91021100", "Wrist-watches, electrically operated", "電子手錶", "PCS"),
    HsCode("91011100", "Wrist-watches with case of precious metal", "貴金屬錶殼手錶", "PCS"),
    HsCode("71081200", "Gold, unwrought, non-monetary", "未經鍛造非貨幣黃金", "KG"),
    HsCode("71131900", "Jewellery of precious metal", "貴金屬首飾", "KG"),
    HsCode("71023900", "Diamonds, non-industrial, worked", "已加工非工業用鑽石", "CT"),
    HsCode("24022000", "Cigarettes containing tobacco", "含煙草香煙", "STK"),
    HsCode("24031900", "Smoking tobacco", "煙絲", "KG"),
    HsCode("22083000", "Whiskies", "威士忌", "L"),
    HsCode("22042100", "Wine in containers of 2 litres or less", "葡萄酒（兩公升或以下容器）", "L"),
    HsCode("22030000", "Beer made from malt", "麥芽啤酒", "L"),
    HsCode("27101900", "Diesel and fuel oil", "柴油及燃油", "L"),
    HsCode("27111200", "Propane, liquefied", "液化丙烷", "KG"),
    HsCode("30049000", "Medicaments, packaged for retail sale", "零售包裝藥物", "KG"),
    HsCode("30021500", "Immunological products", "免疫產品", "KG"),
    HsCode("33049900", "Beauty and skin-care preparations", "美容及護膚品", "KG"),
    HsCode("33030000", "Perfumes and toilet waters", "香水及花露水", "L"),
    HsCode("19011000", "Infant formula", "嬰兒配方奶粉", "KG"),
    HsCode("04109000", "Edible bird's nest", "食用燕窩", "KG"),
    HsCode("03078700", "Abalone, dried", "乾鮑魚", "KG"),
    HsCode("03074300", "Cuttlefish and squid, frozen", "冷藏墨魚及魷魚", "KG"),
    HsCode("03061700", "Shrimps and prawns, frozen", "冷藏蝦", "KG"),
    HsCode("03019900", "Live fish", "活魚", "KG"),
    HsCode("03057100", "Shark fins, dried", "乾魚翅", "KG"),
    HsCode("02023000", "Bovine meat, boneless, frozen", "冷藏無骨牛肉", "KG"),
    HsCode("02071400", "Chicken cuts and offal, frozen", "冷藏雞件及雜碎", "KG"),
    HsCode("09012100", "Coffee, roasted", "已烘焙咖啡", "KG"),
    HsCode("21069000", "Food preparations n.e.s.", "其他食物製品", "KG"),
    HsCode("12119000", "Chinese herbal medicine (plants)", "中藥材", "KG"),
    HsCode("10063000", "Rice, milled", "白米", "KG"),
    HsCode("17019900", "Refined cane sugar", "精製蔗糖", "KG"),
    HsCode("64039900", "Footwear with leather uppers", "皮面鞋履", "PRS"),
    HsCode("64041100", "Sports footwear", "運動鞋", "PRS"),
    HsCode("42022100", "Handbags with outer surface of leather", "皮革外層手袋", "PCS"),
    HsCode("61102000", "Jerseys and pullovers of cotton", "棉質針織套衫", "PCS"),
    HsCode("61091000", "T-shirts of cotton", "棉質T恤", "PCS"),
    HsCode("62046200", "Women's trousers of cotton", "棉質女裝長褲", "PCS"),
    HsCode("52081200", "Woven fabrics of cotton", "棉質梭織布", "KG"),
    HsCode("39269000", "Other articles of plastics", "其他塑膠製品", "KG"),
    HsCode("39232100", "Sacks and bags of polyethylene", "聚乙烯膠袋", "KG"),
    HsCode("39011000", "Polyethylene in primary forms", "初級形狀聚乙烯", "KG"),
    HsCode("95030000", "Toys", "玩具", "PCS"),
    HsCode("69072100", "Ceramic tiles", "瓷磚", "KG"),
    HsCode("48025600", "Uncoated paper", "未塗布紙張", "KG"),
    HsCode("73089000", "Structures of iron or steel", "鋼鐵結構件", "KG"),
    HsCode("94036000", "Wooden furniture", "木傢具", "PCS"),
    HsCode("94054200", "LED lamps and lighting fittings", "LED燈具", "PCS"),
    HsCode("84151000", "Air conditioners, window or wall type", "窗口式或牆壁式冷氣機", "PCS"),
    HsCode("87032300", "Motor cars, 1500-3000 cc", "汽車（1500至3000毫升）", "PCS"),
    HsCode("87089900", "Parts of motor vehicles", "汽車零件", "KG"),
    HsCode("40111000", "New pneumatic tyres for motor cars", "汽車用新充氣輪胎", "PCS"),
    HsCode("85414300", "Photovoltaic modules", "太陽能光伏組件", "PCS"),
    HsCode("74031100", "Refined copper cathodes", "精煉銅陰極", "KG"),
    HsCode("76011000", "Aluminium, unwrought", "未鍛軋鋁", "KG"),
    HsCode("90189000", "Medical instruments and appliances", "醫療器械", "KG"),
    HsCode("05071000", "Ivory", "象牙", "KG"),
    HsCode("05079000", "Pangolin scales", "穿山甲鱗片", "KG"),
    HsCode("01062000", "Live reptiles (turtles and tortoises)", "活爬行動物（龜鱉）", "PCS"),
    HsCode("29223900", "Ketamine", "氯胺酮", "KG"),
    HsCode("29397100", "Cocaine", "可卡因", "KG"),)
HS_BY_CODE: dict[str, HsCode] = {c.hs_code: c for c in HS_CODES}
QUANTITY_UNITS = ("PCS", "KG", "L", "STK", "PRS", "CT")
"""Statistical quantity units: pieces, kilograms, litres, sticks (cigarettes), pairs, carats."""

"""ISO 3166-1 alpha-2 codes and English short names of the trading partners the workbench knows."""

from __future__ import annotations

COUNTRY_NAMES: dict[str, str] = {
    "CN": "China", "JP": "Japan", "KR": "Korea", "TW": "Taiwan", "US": "United States", "SG": "Singapore",
    "MY": "Malaysia", "TH": "Thailand", "VN": "Viet Nam", "DE": "Germany", "GB": "United Kingdom", "FR": "France",
    "IT": "Italy", "AU": "Australia", "IN": "India", "ID": "Indonesia", "PH": "Philippines",
    "AE": "United Arab Emirates", "ZA": "South Africa", "NG": "Nigeria", "BR": "Brazil", "CH": "Switzerland",
    "NL": "Netherlands", "MO": "Macao", "CD": "Congo (DR)", "MZ": "Mozambique", "HK": "Hong Kong",
}
"""ISO2 -> English short name."""

CALLING_CODES: dict[str, str] = {"HK": "852", "CN": "86", "MO": "853", "TW": "886"}
"""ITU-T E.164 country calling codes of the numbering plans phone normalisation understands."""

"""Reference data from public standards, read by the analytics and by the demo generator alike.

HS nomenclature (``hs``), Hong Kong places (``places``), identifier check digits and
container owner codes (``identifiers``), country codes (``countries``) and numbers in words
(``numerals``). Nothing here is invented by the synthetic world: the generator draws from
these tables, and the analytics may rely on them without learning anything the generator
planted.
"""

from workbench.reference.countries import CALLING_CODES, COUNTRY_NAMES
from workbench.reference.hs import HS_BY_CODE, HS_CODES, QUANTITY_UNITS, HsCode
from workbench.reference.identifiers import (
    CONTAINER_OWNER_CODES,
    container_check_digit,
    container_is_valid,
    hkid_check_character,
    imo_check_digit,
    imo_is_valid,
)
from workbench.reference.places import AREAS, CONTROL_POINT_INDEX, CONTROL_POINTS, STREETS, ControlPoint, Street

__all__ = [
    "AREAS", "CALLING_CODES", "CONTAINER_OWNER_CODES", "CONTROL_POINTS", "CONTROL_POINT_INDEX", "COUNTRY_NAMES",
    "HS_BY_CODE", "HS_CODES", "QUANTITY_UNITS", "ControlPoint", "HsCode", "Street", "container_check_digit",
    "container_is_valid", "hkid_check_character", "imo_check_digit", "imo_is_valid", "STREETS",
]

"""Check digits of public identifier standards: ISO 6346 containers, IMO ship numbers, HKID cards.

Used by the analytics to tell a real identifier from a look-alike (a container number
with a wrong check digit is a typo or a fake) and by the demo generator to make valid
ones. ``CONTAINER_OWNER_CODES`` are BIC-registered owner prefixes of large carriers.
"""

from __future__ import annotations

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _iso6346_letter_values() -> dict[str, int]:
    """ISO 6346 letter values: A=10 upwards, skipping multiples of 11."""
    values, v = {}, 10
    for ch in LETTERS:
        if v % 11 == 0:
            v += 1
        values[ch] = v
        v += 1
    return values


ISO6346_LETTER_VALUES = _iso6346_letter_values()

CONTAINER_OWNER_CODES = ("MSCU", "OOLU", "CSNU", "HLXU", "TGHU", "MAEU", "CMAU", "EGHU", "TCNU", "SEGU", "BMOU", "TRHU")
"""BIC owner codes (owner prefix + category ``U``) of carriers and lessors common in Hong Kong."""


def container_check_digit(prefix10: str) -> int:
    """Check digit of the first 10 characters (owner code, category U, 6-digit serial)."""
    total = sum((ISO6346_LETTER_VALUES[c] if c.isalpha() else int(c)) * (2**i) for i, c in enumerate(prefix10))
    return total % 11 % 10


def container_is_valid(number: str) -> bool:
    """True when ``number`` is 4 letters + 7 digits with a correct ISO 6346 check digit."""
    if len(number) != 11 or not number[:4].isalpha() or not number[4:].isdigit():
        return False
    return container_check_digit(number[:10]) == int(number[10])


def imo_check_digit(six: str) -> int:
    """IMO ship number check digit: weighted sum 7..2 of the first six digits, mod 10."""
    return sum(int(d) * w for d, w in zip(six, range(7, 1, -1))) % 10


def imo_is_valid(imo: str) -> bool:
    """True when ``imo`` reads ``IMO`` + 7 digits with a correct check digit."""
    digits = imo.removeprefix("IMO")
    return len(digits) == 7 and digits.isdigit() and imo_check_digit(digits[:6]) == int(digits[6])


def hkid_check_character(letter: str, six: str) -> str:
    """The check character of a single-letter Hong Kong identity card number (``A123456`` -> ``3``)."""
    total = 36 * 9 + (10 + LETTERS.index(letter)) * 8 + sum(int(d) * w for d, w in zip(six, range(7, 1, -1)))
    check = (11 - total % 11) % 11
    return "A" if check == 10 else str(check)

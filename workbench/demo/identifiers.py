"""Identifiers with real-world structure: ISO 6346 containers, IMO numbers, HKIDs, plates, phones.

The scalar functions build entity attributes; the ``*_array`` functions build millions of
values at once for declarations and crossings, writing ASCII bytes into a numpy matrix and
viewing it as fixed-width strings, so no Python loop runs per row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from workbench.demo.vocabulary import CONTAINER_OWNERS
from workbench.reference.identifiers import (  # noqa: F401 - check digits re-exported for the generator's modules
    ISO6346_LETTER_VALUES as _ISO6346,
    LETTERS,
    container_check_digit,
    container_is_valid,
    hkid_check_character,
    imo_check_digit,
    imo_is_valid,
)

def imo_number(serial: int) -> str:
    """``IMO9xxxxxx`` for a serial in [0, 100000); modern hulls start with 9."""
    six = f"9{serial % 100000:05d}"
    return f"IMO{six}{imo_check_digit(six)}"


def hkid(letter_index: int, digits: int) -> str:
    """A Hong Kong identity card number ``A123456(7)`` with its check character."""
    letter = LETTERS[letter_index % 26]
    six = f"{digits % 1_000_000:06d}"
    return f"{letter}{six}({hkid_check_character(letter, six)})"


def hk_phone(rng: np.random.Generator) -> str:
    """``+852 ddddddd d``: 8 digits starting 2/3 (fixed) or 5/6/9 (mobile)."""
    first = rng.choice(["2", "3", "5", "6", "9"], p=[0.15, 0.1, 0.15, 0.3, 0.3])
    return f"+852 {first}{rng.integers(0, 10_000_000):07d}"


def mainland_phone(rng: np.random.Generator) -> str:
    """``+86 1xxxxxxxxxx``: an 11-digit mainland mobile number."""
    return f"+86 1{rng.integers(3, 10)}{rng.integers(0, 1_000_000_000):09d}"


def hk_plate(rng: np.random.Generator) -> str:
    """A Hong Kong registration mark such as ``AB 1234`` (no I, O or Q)."""
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return f"{letters[rng.integers(0, 23)]}{letters[rng.integers(0, 23)]} {rng.integers(1, 10_000)}"


def mainland_plate(rng: np.random.Generator) -> str:
    """A Guangdong cross-boundary plate ``粤Z·1234港``."""
    chars = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    body = "".join(chars[i] for i in rng.integers(0, 10, 2)) + "".join(chars[i] for i in rng.integers(0, 34, 2))
    return f"粤Z·{body}港"


def _ascii_rows(matrix: np.ndarray) -> pa.Array:
    """Turn an ``(n, width)`` uint8 matrix of ASCII codes into an Arrow string array."""
    width = matrix.shape[1]
    fixed = np.ascontiguousarray(matrix, dtype=np.uint8).view(f"S{width}").ravel()
    return pa.array(fixed, type=pa.binary(width)).cast(pa.string())


def _digits_matrix(numbers: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, as ASCII codes."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers.astype(np.int64)[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def numbered_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded ``numbers`` (e.g. ``D0000000042``), vectorised."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    matrix = np.hstack([np.broadcast_to(head, (len(numbers), len(head))), _digits_matrix(numbers, width)])
    return _ascii_rows(matrix)


_OWNER_CODES = np.array([[ord(c) for c in owner] for owner in CONTAINER_OWNERS], dtype=np.uint8)
_OWNER_SUMS = np.array([sum(_ISO6346[c] * 2**i for i, c in enumerate(owner)) for owner in CONTAINER_OWNERS])


def container_array(owner_index: np.ndarray, serial: np.ndarray) -> pa.Array:
    """ISO 6346 container numbers with correct check digits, vectorised."""
    digits = _digits_matrix(serial, 6)
    weights = 2 ** np.arange(4, 10)
    check = (_OWNER_SUMS[owner_index] + ((digits - ord("0")) * weights).sum(axis=1)) % 11 % 10
    matrix = np.hstack([_OWNER_CODES[owner_index], digits, (check + ord("0")).astype(np.uint8)[:, None]])
    return _ascii_rows(matrix)


def mix64(*parts: np.ndarray | int) -> np.ndarray:
    """A splitmix64-style integer hash of several integer arrays.

    Used where a value must be a pure function of a key (a manifest's carrier is a function
    of day, port and slot, whichever chunk the manifest's lines fall in); Python's ``hash``
    is salted per process and would break determinism.
    """
    with np.errstate(over="ignore"):
        h = np.uint64(0x9E3779B97F4A7C15)
        for part in parts:
            h = (np.asarray(part).astype(np.uint64) ^ h) * np.uint64(0xBF58476D1CE4E5B9)
            h = (h ^ (h >> np.uint64(31))) * np.uint64(0x94D049BB133111EB)
            h = h ^ (h >> np.uint64(29))
    return h

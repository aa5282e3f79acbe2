"""Numbers written as words, the way Chinese and English text writes them.

Both the synthetic world's documents and the NER training corpus write amounts and
counts in words; this is general language, not something the generator invents, so it
lives here once.
"""

from __future__ import annotations

_ZH_DIGITS = "零一二三四五六七八九"
_EN_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
             "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _below_10k(m: int) -> str:
    out, gap = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        d = m // value % 10
        if d:
            out += ("零" if gap and out else "") + _ZH_DIGITS[d] + unit
            gap = False
        elif out:
            gap = True
    return out


def zh_numeral(n: int) -> str:
    """Chinese numerals for 0 <= n < 10**12 (三百二十, 一千零五, 四億五千萬, 十二)."""
    if n == 0:
        return "零"
    yi, rest = divmod(n, 10**8)
    wan, units = divmod(rest, 10**4)
    parts = []
    if yi:
        parts.append(_below_10k(yi) + "億")
    if wan:
        parts.append(("零" if yi and wan < 1000 else "") + _below_10k(wan) + "萬")
    if units:
        parts.append(("零" if (yi or wan) and units < 1000 else "") + _below_10k(units))
    text = "".join(parts)
    return text[1:] if text.startswith("一十") else text


def en_words(n: int) -> str:
    """English words for 0 <= n < 1000 (``one hundred and eighty``)."""
    if n < 20:
        return _EN_SMALL[n]
    if n < 100:
        return _EN_TENS[n // 10] + ("-" + _EN_SMALL[n % 10] if n % 10 else "")
    head = f"{_EN_SMALL[n // 100]} hundred"
    return head + (f" and {en_words(n % 100)}" if n % 100 else "")

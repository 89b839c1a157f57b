"""Text normalisation shared by indexing and querying (pure functions).

NFKC (full-width → half-width), traditional → simplified (OpenCC ``t2s``), lower-case Latin,
spoken fillers and interjections removed, Chinese numerals with a unit turned into digits
(八十岁 → 80岁, 一万元 → 10000元), punctuation turned into spaces, stuttered characters collapsed.
The same function runs on the library and on every question, so both sides always agree.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

# Said before or around a question, never part of it. Longest first.
LEADING_FILLERS = (
    "我想咨询一下",
    "我想了解一下",
    "麻烦问一下",
    "麻烦问下",
    "打扰一下",
    "我想问一下",
    "想咨询一下",
    "想了解一下",
    "我想请问",
    "请问一下",
    "我想问下",
    "想问一下",
    "咨询一下",
    "我想咨询",
    "我想问",
    "请问下",
    "你好",
    "您好",
    "请问",
    "想问",
    "问下",
    "那个",
    "就是",
    "然后",
    "那么",
)
TRAILING_FILLERS = ("谢谢你", "谢谢您", "谢谢了", "谢谢", "多谢", "感谢")
INTERJECTIONS = "嗯啊呃哦唉诶欸噢喔"
SENTENCE_PARTICLES = "呢吗嘛吧呀啦哦"

_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_STUTTER = re.compile(r"(.)\1{2,}")
_INTERJECTION_RUN = re.compile(f"[{INTERJECTIONS}]+")
_FILLER_HEAD = re.compile("^(?:" + "|".join(LEADING_FILLERS) + ")+")
_FILLER_TAIL = re.compile("(?:" + "|".join(TRAILING_FILLERS) + f")+$|[{SENTENCE_PARTICLES}]+$")

_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}
# A numeral run that holds a unit (八十, 一万, 三千五百), or a lone digit before a measure word.
_NUMERAL = re.compile(
    r"[零〇一二两三四五六七八九十百千万亿]*[十百千万亿][零〇一二两三四五六七八九十百千万亿]*"
)
# A year read out digit by digit (二零二四年).
_YEAR = re.compile(r"([零〇一二三四五六七八九]{4})(?=年)")
_LONE = re.compile(
    r"(?<![零〇一二两三四五六七八九十百千万亿])([一二两三四五六七八九])(?=周岁|岁|元|块|个月|年|倍|孩|胎)"
)


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def chinese_number(text: str) -> int | None:
    """The value of a Chinese numeral such as 八十, 一万二千, 十五; None if it is not one.

    A digit said after a unit without 零 stands for the next unit down, as people say amounts:
    三千六 is 3600, 一万二 is 12000 (三千零六 is 3006)."""
    total, section, digit = 0, 0, None
    tail = 1  # what a trailing digit is worth: a tenth of the unit said before it
    for char in text:
        if char in _DIGITS:
            if digit is not None:  # two digits in a row (一二): not a numeral we read
                return None
            digit = _DIGITS[char]
            if digit == 0:
                tail, digit = 1, None
        elif char in _UNITS:
            section += (1 if digit is None else digit) * _UNITS[char]
            digit, tail = None, max(_UNITS[char] // 10, 1)
        elif char in _BIG:
            section += (digit or 0) * tail
            total += (section or 1) * _BIG[char]
            section, digit, tail = 0, None, _BIG[char] // 10
        else:
            return None
    return total + section + (digit or 0) * tail


def _numerals(text: str) -> str:
    def convert(match: re.Match[str]) -> str:
        value = chinese_number(match.group(0))
        return match.group(0) if value is None else str(value)

    text = _YEAR.sub(lambda m: "".join(str(_DIGITS[c]) for c in m.group(1)), text)
    text = _NUMERAL.sub(convert, text)
    return _LONE.sub(lambda m: str(_DIGITS[m.group(1)]), text)


def to_simplified(text: str) -> str:
    return str(_t2s().convert(text))


def _strip_fillers(chunk: str) -> str:
    if len(chunk) > 1:
        chunk = _INTERJECTION_RUN.sub("", chunk)
    previous = None
    while chunk and chunk != previous:
        previous = chunk
        chunk = _FILLER_TAIL.sub("", _FILLER_HEAD.sub("", chunk))
    return chunk


def normalise(text: str) -> str:
    """The canonical form of a question or a library text; words separated by single spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text).lower()
    text = _PUNCT.sub(" ", text)
    text = _STUTTER.sub(r"\1", text)
    parts = []
    for chunk in text.split():
        chunk = _strip_fillers(chunk)
        if chunk:
            parts.append(_numerals(chunk))
    return " ".join(parts)

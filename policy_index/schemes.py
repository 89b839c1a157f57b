"""Versions of one scheme: the same policy issued by several places or in several years.

A real catalogue holds 农村危房改造补助标准 from four counties, 一次性扩岗补助 for 2022, 2023 and
2024, the national 育儿补贴制度实施方案 beside 天津's. For a question that names no place or
year, two such versions are not rival answers but the same one (the labelling rules count any
version that answers), so the lead a direct answer needs is measured over the best candidate of
*another scheme*. What a title is about, for this, is its subject (after the issuers and 关于)
without places, years, dates, bracketed notes and the words of a document's kind; two titles are
versions of one scheme when those subjects read nearly alike.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz

from policy_index.places import Gazetteer

# Alike at this share of characters (rapidfuzz's normalised Indel similarity, 0–100): 农村危房改造
# 补助标准 and 农村危房改造资金补助标准 (95), 失业保险稳岗返还政策 and 失业保险一般企业稳岗返还
# (80); not 城乡医疗救助暂行办法 and 城乡居民基本医疗保险实施办法 (67).
ALIKE = 80.0
SHORTEST = 4  # a subject shorter than this says too little to be matched

_BRACKETS = re.compile(r"[（(【\[][^（）()【】\[\]]*[)）】\]]")
_DATES = re.compile(r"[0-9]+(?:\s*(?:年度|年|月|日|届|号|周岁))?|[—–\-~至到、]")
# The words of a document's kind and of its issuing, not of what it is about
_KIND = re.compile(
    r"关于|印发|转发|参照执行|贯彻落实|进一步|做好|全面|的通知|通知|的意见|实施意见|指导意见|"
    r"实施方案|实施细则|实施办法|暂行办法|管理办法|办法|细则|方案|规定|条例|决定|意见|公示|"
    r"政策问答|政策解读|办事指南|指南|发放情况|发放|落实|完成|调整|延续实施|实施|试行|暂行|"
    r"人民政府办公厅|人民政府办公室|人民政府|办公厅|办公室|政策|工作|有关|问题|的"
)


def subject(title: str, places: Gazetteer | None) -> str:
    """What a normalised title is about, stripped for comparison with other versions."""
    at = title.find("关于")
    text = title[at + 2 :] if at >= 0 and len(title) - at > 4 else title
    text = _BRACKETS.sub("", text.replace(" ", ""))
    if places is not None:
        text = places.strip(text)
    text = _DATES.sub("", text)
    return _KIND.sub("", text)


def alike(a: str, b: str) -> bool:
    """Whether two subjects (see ``subject``) are versions of one scheme."""
    if len(a) < SHORTEST or len(b) < SHORTEST:
        return a == b and bool(a)
    return fuzz.ratio(a, b) >= ALIKE

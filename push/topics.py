"""The topic catalogue people subscribe to, and how a loosely typed topic is understood.

The catalogue is a table (``push_topic``) that staff edit (``gongkai topics``); a new database
starts with ``DEFAULT_TOPICS``. ``resolve`` reads what a resident typed — "社保", "企業補貼",
"我想订阅企业补贴的通知" — as catalogue topics: simplified, stripped of the request words, then
matched on the topic names and their aliases (the longest alias found wins; a tie between topics
is returned as a choice), with a typo-tolerant fallback (rapidfuzz) for a word close to one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from policy_index.normalise import to_simplified


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    aliases: tuple[str, ...] = ()
    description: str = ""


def _topic(name: str, aliases: str, description: str) -> Topic:
    return Topic(name, tuple(aliases.split()), description)


DEFAULT_TOPICS: tuple[Topic, ...] = (
    _topic("就业创业", "就业 创业 找工作 招聘 失业 稳岗 技能培训 创业担保贷款",
           "就业补贴、创业扶持、职业培训"),
    _topic("社保医保", "社保 医保 养老保险 医疗保险 社会保险 参保 工伤 生育",
           "参保缴费、待遇领取、医疗报销"),
    _topic("养老服务", "养老 老年人 高龄 老人 居家养老", "高龄津贴、养老服务补贴"),
    _topic("教育", "上学 入学 学校 助学 学生 资助 招生", "入学招生、学生资助"),
    _topic("住房", "住房 公租房 保障房 租房 公积金 房屋 不动产", "保障性住房、公积金、不动产登记"),
    _topic("惠农", "农业 农民 种粮 农村 涉农 耕地 农机", "惠农补贴、农业扶持"),
    _topic("救助", "低保 社会救助 特困 临时救助 困难群众 救助", "低保、特困、临时救助"),
    _topic("残疾人", "残疾 残联 残疾证", "残疾人补贴与服务"),
    _topic("退役军人", "退役 军人 优抚 退伍 双拥", "退役军人优待与服务"),
    _topic("减税降费", "减税 降费 税收优惠 纳税 税费 税收", "税费减免"),
    _topic("惠企/免申即享", "免申即享 惠企 企业补贴 惠企政策 涉企 奖补 企业奖励 企业扶持 中小企业",
           "惠企政策、免申即享兑现"),
    _topic("人才", "人才 引才 高层次人才 人才补贴 安家补贴", "人才引进与补贴"),
    _topic("科技创新", "科技 创新 高新技术 研发 专精特新 科技型", "科技项目、高企认定、研发补助"),
)  # fmt: skip

# What people wrap a topic in: "我想订阅…的通知", "帮我订一下…", "取消…的推送".
_NOISE = re.compile(
    r"我想|我要|想要|请|帮我|麻烦|给我|一下|订阅|退订|取消|关注|的|通知|消息|推送|信息|政策|相关|方面|主题|类"
    r"|[\s,，。.、;；:：!！?？~～'\"“”‘’（）()【】\[\]/\\|]"
)
FUZZY_MIN = 80.0  # rapidfuzz ratio for a typo (e.g. 就叶创业) to still name a topic
ALL_WORDS = ("全部", "所有", "全部主题", "所有主题", "全部订阅", "所有订阅")


def core(text: str) -> str:
    """The topic words of a request: simplified, without the request around them."""
    return _NOISE.sub("", to_simplified(text))


@dataclass(frozen=True, slots=True)
class Resolution:
    topics: tuple[Topic, ...]  # understood (one, or several named together)
    choices: tuple[Topic, ...] = ()  # equally likely: ask which
    everything: bool = False  # 全部


def resolve(text: str, catalogue: Sequence[Topic]) -> Resolution:
    """Which catalogue topics ``text`` names (see the module docstring)."""
    plain = to_simplified(text)
    if any(word in plain for word in ALL_WORDS):
        return Resolution((), everything=True)
    words = core(text)
    if not words:
        return Resolution(())
    named = [t for t in catalogue if core(t.name) and core(t.name) in words]
    rest = words
    for topic in named:
        rest = rest.replace(core(topic.name), "")
    if named and not rest:  # nothing but topic names: "订阅 就业创业 住房"
        return Resolution(tuple(named))
    best: dict[str, int] = {}
    for topic in catalogue:
        lengths = [len(a) for a in (core(topic.name), *topic.aliases) if a and a in words]
        if lengths:
            best[topic.name] = max(lengths)
    if best:
        top = max(best.values())
        winners = [t for t in catalogue if best.get(t.name) == top]
        if len(winners) == 1:
            return Resolution((winners[0],))
        return Resolution((), choices=tuple(winners))
    names = {t.name: t for t in catalogue}
    for t in catalogue:
        for alias in t.aliases:
            names.setdefault(alias, t)
    match = process.extractOne(words, list(names), scorer=fuzz.ratio, score_cutoff=FUZZY_MIN)
    if match is not None:
        return Resolution((names[match[0]],))
    return Resolution(())

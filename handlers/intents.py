"""What a short reply means: a numbered choice, or a follow-up about one facet of a policy.

Pure functions over the text. A *facet* is a field of a policy's 办事指南 (``Guide``): who may
apply and on what conditions, the standard, the materials, the process, the time limit, the
place, the phone. "那要什么材料？" asks a facet and nothing else, so it is a follow-up about the
policy last shown; "公租房要什么材料" names a new topic as well, so it goes to the matcher.
"""

from __future__ import annotations

import re
import unicodedata

from bot.routing import EDGE_PUNCTUATION
from policy_index.normalise import normalise
from policy_index.tokenise import syllables

# "How do I get it": the process, or for a 免申即享 policy that nothing needs applying for.
APPLY_WORDS = (
    "怎么领",
    "如何领",
    "怎么拿",
    "怎么享受",
    "如何享受",
    "去哪申请",
    "在哪申请",
    "要申请吗",
    "需要申请吗",
    "用申请吗",
    "怎么报",
    "怎么申领",
    "如何申领",
)
# "What does it grant" ("有什么税收优惠", "有哪些补贴"): the standard, not the definitions.
_BENEFIT = re.compile(
    r"(?:什么|哪些|啥)[\u4e00-\u9fff]{0,4}?(?:优惠|补贴|补助|好处|减免|奖励|扶持)|享受什么"
)

# Checked in this order: the first facet with a keyword in the text wins ("电话多少" is the phone,
# not the standard; "多久到账" the time limit).
FACET_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("phone", ("电话", "热线", "联系方式", "号码", "打给谁", "找谁")),
    ("materials", ("材料", "资料", "证件", "带什么", "准备什么", "带哪些", "提交什么", "证明")),
    ("location", ("在哪", "哪里办", "去哪", "地点", "地址", "窗口", "什么地方")),
    ("time_limit", ("多久", "多长时间", "几天", "时限", "到账", "什么时候", "啥时候", "几时")),
    ("conditions", ("条件", "资格", "要求", "谁能", "谁可以", "哪些人", "什么人", "符合", "对象")),
    (
        "standard",
        ("标准", "多少钱", "补多少", "给多少", "领多少", "拿多少", "金额", "额度"),
    ),
    (
        "process",
        (
            "流程",
            "步骤",
            "程序",
            "手续",
            "怎么申请",
            "如何申请",
            "怎么办理",
            "如何办理",
            *APPLY_WORDS,
        ),
    ),
)

ANAPHORA = ("那", "这个", "那个", "这项", "这", "它", "该")
FOLLOW_UP_CHARS = 24  # longer messages are new questions, whatever they start with

# Words that carry no topic: what remains of a follow-up once these and its facet words are gone
# is at most one character ("那要什么材料？" → "").
_FILLER_WORDS = (
    "那么 那 这个 那个 这 请问 问一下 一下 我们 我 您 你们 想 要 需要 得 还 再 呢 吗 "
    "啊 呀 吧 的 了 是 有 多少 什么 怎么 怎样 如何 哪些 哪个 哪里 里 能 可以 可 会 "
    "去 打 申请 办理 办 领 交 提交 准备 带 具体 大概 一般 都 和 及 到 给 个 些 "
    "么 啥 咋 就 哦 嗯 好 一共 大约 钱 款 咨询 联系 问问 告诉 知道"
)
_FILLER = sorted(_FILLER_WORDS.split(), key=len, reverse=True)
_CONTENT = re.compile(r"[\u3400-\u9fffa-z0-9]")

_NUMERALS = {c: n for n, c in enumerate("一二三四五六七八九", 1)} | {"两": 2}
_CHOICE = re.compile(r"^(?:第|选|选择)?([0-9]{1,2}|[一二两三四五六七八九十])(?:个|项|条|号)?$")


def _plain(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold().strip()
    return folded.strip(EDGE_PUNCTUATION) or folded


def detect_facet(text: str) -> str | None:
    """The guide field a question asks about, if any."""
    plain = _plain(text)
    for facet, words in FACET_WORDS:
        if any(w in plain for w in words) or (facet == "standard" and _BENEFIT.search(plain)):
            return facet
    return None


def is_follow_up(text: str) -> bool:
    """A question about a facet and nothing else (no topic of its own)."""
    if detect_facet(text) is None:
        return False
    rest = _plain(text)
    for _facet, words in FACET_WORDS:
        for word in words:
            rest = rest.replace(word, " ")
    for word in _FILLER:
        rest = rest.replace(word, " ")
    return len(_CONTENT.findall(rest)) <= 1


def may_follow_up(text: str) -> bool:
    """A short question that asks a facet, or refers back ("那…", "这个…"): whether it continues
    the last policy depends on the library (``handlers.subjects.other_subject``)."""
    plain = _plain(text)
    if len(plain) > FOLLOW_UP_CHARS:
        return False
    return detect_facet(plain) is not None or refers_back(plain)


def refers_back(text: str) -> bool:
    """Whether the text opens with a word pointing back ("那…", "这个…")."""
    return _plain(text).startswith(ANAPHORA)


def asks_benefit(text: str) -> bool:
    """Whether the question asks what a policy grants ("有什么优惠")."""
    return _BENEFIT.search(_plain(text)) is not None


def parse_choice(text: str) -> int | None:
    """The number of a numbered reply ("2", "２", "第二个"), or None."""
    match = _CHOICE.match(_plain(text))
    if match is None:
        return None
    number = match.group(1)
    if number.isdigit():
        return int(number)
    return 10 if number == "十" else _NUMERALS[number]


_EXEMPT_SOUND = syllables("免申即享")[:-1]
_LIST_WORDS = ("清单", "目录", "列表", "名单", "一览", "汇总", "有哪些", "都有什么", "有什么")


def asks_exempt_list(text: str) -> bool:
    """A request for the list of 免申即享 policies ("免申即享政策清单", "免审即享有哪些"),
    also when 免申即享 is typed with characters of the same sound."""
    plain = normalise(text).replace(" ", "")
    if not any(w in plain for w in _LIST_WORDS) or detect_facet(plain) is not None:
        return False  # "免申即享有什么条件" asks a facet, not for the list
    sound = syllables(plain)
    n = len(_EXEMPT_SOUND)
    return any(sound[i : i + n] == _EXEMPT_SOUND for i in range(len(sound) - n + 1))

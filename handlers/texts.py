"""Every sentence the bot says, in one place (Simplified Chinese), as small formatting functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from bot.config import Settings
from policy_index import dates


def welcome(settings: Settings) -> str:
    return (
        f"您好，欢迎关注{settings.account_name}！\n"
        "我是政策咨询助手，可以帮您：\n"
        "· 查政策：直接发问题，比如“灵活就业人员社保补贴怎么申请”\n"
        "· 看依据：每条答复都注明发文机关、文号和有效期，并附原文与政策解读链接\n"
        "· 办事指南：申请条件、所需材料、办理流程、咨询电话\n"
        "· 免申即享：点菜单“免申即享”，查看无需申请、直接享受的政策\n"
        "· 订阅通知：回复“订阅 就业创业”等主题，有新政策时推送给您\n"
        f"回复“帮助”查看用法。找不到答案时，可拨打 {settings.hotline} 政务服务便民热线。"
    )


def help_text(settings: Settings) -> str:
    return (
        "【使用说明】\n"
        "1. 直接用文字提问，说清楚“谁、办什么事”，比如：\n"
        "   “失业了能领失业保险金吗”\n"
        "   “小微企业有哪些税费减免”\n"
        "2. 也可以发语音，我会按识别出的文字来查。\n"
        "3. 答复里有多个选项时，回复对应数字即可。\n"
        f"4. 没找到想要的，可拨打 {settings.hotline}，或向政府信息公开工作机构申请依申请公开。"
    )


def not_understood(settings: Settings) -> str:
    return (
        "抱歉，我暂时没能理解您的问题。\n"
        "请换个说法再试试，比如“申请低保需要什么条件”；回复“帮助”查看用法。\n"
        f"也可以拨打 {settings.hotline} 政务服务便民热线咨询。"
    )


VOICE_NOT_RECOGNISED = "抱歉，这条语音没有识别出文字。请直接打字告诉我您想咨询的问题。"
IMAGE_RECEIVED = "收到您的图片。我目前只能读懂文字提问，请用文字描述您想咨询的政策或事项。"
VIDEO_RECEIVED = "收到您的视频。我目前只能读懂文字提问，请用文字描述您想咨询的政策或事项。"
LOCATION_RECEIVED = (
    "收到您的位置。如需查询办事地点，请直接发送“事项名称 + 在哪里办”，比如“社保卡在哪里办”。"
)
LINK_RECEIVED = "收到您分享的链接。如需咨询其中的政策，请用文字告诉我您想了解哪一点。"
MENU_UNAVAILABLE = "这个菜单暂时还没有内容，您可以直接发文字提问。"


# --- The custom menu's replies (handlers/menu.py) ---------------------------------------------

MENU_LIBRARY_EMPTY = "政策库暂时还没有内容，请稍后再试，或直接发文字提问。"


def menu_topics(
    audience: str, topics: Sequence[tuple[str, int]], more: int, examples: Sequence[str]
) -> str:
    """个人办事 / 企业办事: the library's topics for one audience, with policy counts."""
    lines = [f"【{audience}办事】本区现行有效、面向{audience}的政策，按主题分："]
    lines += [f"· {topic}（{count} 条）" for topic, count in topics]
    if more:
        lines.append(f"· 另有 {more} 个主题")
    lines.append("直接发送您要办的事或问题即可查询" + ("，比如：" if examples else "。"))
    lines += [f"“{question}”" for question in examples]
    return "\n".join(lines)


def menu_exempt(items: Sequence[tuple[str, str, str | None]], today: str, more: int) -> str:
    """免申即享: (title, who it is for, valid until) of each policy in force."""
    if not items:
        return (
            "【免申即享】目前政策库中没有正在执行的免申即享政策，有新政策时会在这里列出。"
            "您也可以直接发问题查询。"
        )
    lines = [f"【免申即享】以下政策无需申请，符合条件即可直接享受（截至{today}现行有效）："]
    for n, (title, who, until) in enumerate(items, 1):
        lines.append(f"{n}. {title}（{who}" + (f"，有效期至{until}）" if until else "）"))
    if more:
        lines.append(f"另有 {more} 条未列出，可发送关键词查询。")
    lines.append("想了解某条政策，直接发送政策名称或关键词即可。")
    return "\n".join(lines)


def menu_hot_questions(questions: Sequence[str]) -> str:
    """热门问题: questions people ask most, each answerable by sending it."""
    if not questions:
        return "【热门问题】暂时还没有热门问题。请直接发文字提问，说清楚“谁、办什么事”。"
    lines = ["【热门问题】大家常问："]
    lines += [f"{n}. {question}" for n, question in enumerate(questions, 1)]
    lines.append("发送问题原文，或用自己的话问，即可查看答复。")
    return "\n".join(lines)


def menu_contact(settings: Settings) -> str:
    """联系我们: the phone lines and how to apply for disclosure (依申请公开)."""
    lines = ["【联系我们】"]
    if settings.hotline.strip() != "12345":
        lines.append(f"· 咨询电话：{settings.hotline}")
    lines += [
        "· 12345 政务服务便民热线：全天 24 小时受理政策咨询、投诉举报和求助。",
        "· 依申请公开：向政府信息公开工作机构提出书面申请，可在政府门户网站“依申请公开”栏目"
        "在线提交，也可到受理窗口递交或信函邮寄，写明所需信息的名称、文号或其他特征描述。"
        "能当场答复的当场答复，否则自收到申请之日起 20 个工作日内答复。",
        "· 各项政策的办理地点和咨询电话：发送“政策名称 + 电话”即可查询。",
    ]
    return "\n".join(lines)


# --- Policy questions and answers (handlers/questions.py, handlers/cards.py) -----------------


def cn_date(day: date) -> str:
    """2023年2月15日, or as much of it as the catalogue gave: 2023年2月, 2023年."""
    return dates.chinese(day)


def policy_title(title: str) -> str:
    return f"《{title}》"


def policy_facts(
    doc_number: str | None, issuer: str | None, issued: date | None, status: str
) -> list[str]:
    """文号, issuer and date, validity: the lines that say where an answer comes from."""
    lines = [f"文号：{doc_number}"] if doc_number else []
    source = "，".join(x for x in (issuer, cn_date(issued) if issued else None) if x)
    if source:
        lines.append(f"发布：{source}")
    lines.append(f"效力：{status}")
    return lines


def valid_until(status: str, until: date) -> str:
    return f"{status}（有效期至{cn_date(until)}）"


def for_whom(target: str) -> str:
    return f"对象：{target}"


def gist(summary: str) -> str:
    return f"要点：{summary}"


def replaces(old_title: str, old_status: str) -> str:
    return f"说明：原《{old_title}》{old_status}，现由本文件替代。"


def replaced_by(title: str, doc_number: str | None) -> str:
    return f"现行政策：《{title}》" + (f"（{doc_number}）" if doc_number else "")


OPEN_REPLACEMENT = "回复“1”查看现行有效的政策。"
SOURCE_LINK_TEXT = "查看政策原文"


def source_line(link: str) -> str:
    return f"原文：{link}"


def interpretation_line(link: str) -> str:
    return f"解读：{link}"


def ask_more(labels: Sequence[str]) -> str:
    return f"还可以接着问：{'、'.join(labels)}"


def facet_section(label: str, text: str) -> str:
    return f"【{label}】{text}"


def facet_heading(title: str, label: str) -> str:
    return f"《{title}》· {label}"


def facet_missing(label: str) -> str:
    return f"这项政策的办事指南没有写明{label}。"


def phone_route(phone: str) -> str:
    return f"可拨打 {phone} 咨询。"


def qa_lines(question: str, answer: str) -> tuple[str, str]:
    return f"问：{question}", f"答：{answer}"


def qa_basis(link: str, doc_number: str | None, status: str) -> str:
    details = "，".join(x for x in (doc_number, status) if x)
    return f"依据：{link}（{details}）"


def choose(numbered: Sequence[tuple[int, str]], *, first_page: bool, more: bool) -> str:
    """The numbered options of a clarification, one page of them."""
    head = "您是想问：" if first_page else "其他可能的内容："
    lines = [head, *(f"{n}. {label}" for n, label in numbered)]
    lines.append(f"{NONE_OF_THESE}. 都不是（转工作人员答复）")
    lines.append("（回复数字；回复“更多”看其他选项）" if more else "（回复数字）")
    return "\n".join(lines)


NONE_OF_THESE = 0  # the option number for "none of these": the question goes to staff


def none_of_these(settings: Settings) -> str:
    """The resident says no option fits: the question goes to the staff inbox."""
    lines = ["好的，您的问题已转给工作人员，答复后会在这里回复您（48 小时内有效）。"]
    lines.append("着急的话，也可以拨打 12345 政务服务便民热线")
    if settings.hotline.strip() != "12345":
        lines[-1] += f"或咨询电话 {settings.hotline}"
    lines[-1] += "。"
    return "\n".join(lines)


def choose_facet(title: str, numbered: Sequence[tuple[int, str]]) -> str:
    lines = [f"您想了解《{title}》的哪方面？", *(f"{n}. {label}" for n, label in numbered)]
    lines.append("（回复数字）")
    return "\n".join(lines)


OVERVIEW_LABEL = "政策简介和原文"
NO_MORE_OPTIONS = "没有更多选项了。请回复上面的数字，或换个说法重新提问。"
NOTHING_TO_PAGE = "目前没有待选的内容，请直接发送您的问题。"
ASK_TOPIC_FIRST = (
    "请问您想了解哪项政策的这方面内容？请带上政策或事项名称再问一次，比如“低保要什么材料”。"
)
ENTRY_GONE = "这项内容已经更新，请重新发送您的问题。"


def choice_expired(minutes: int) -> str:
    return f"这个选项已经失效了（选项保留 {minutes} 分钟）。请重新发送您的问题。"


def choice_out_of_range(last: int) -> str:
    return f"请回复 1 到 {last} 之间的数字。"


def nothing_found(settings: Settings, related: Sequence[tuple[int, str]]) -> str:
    """No policy answers the question: say so, offer related topics and the human routes."""
    lines = ["抱歉，政策库里没有找到能回答这个问题的政策。"]
    if related:
        lines.append("您可以看看这些相关内容（回复数字查看）：")
        lines += [f"{n}. {label}" for n, label in related]
    lines.append("也可以通过这些方式咨询：")
    lines.append("· 拨打 12345 政务服务便民热线")
    if settings.hotline.strip() != "12345":
        lines.append(f"· 拨打咨询电话 {settings.hotline}")
    lines.append("· 需要政府文件的，可以申请依申请公开（回复“依申请公开”查看办法）")
    lines.append("您的问题已记录，工作人员会据此补充答复。")
    return "\n".join(lines)


def slow_down(settings: Settings) -> str:
    return (
        "您发送消息太快了，请稍等一分钟再发，我会逐条认真答复。"
        f"急事可拨打 {settings.hotline} 政务服务便民热线。"
    )


def welcome_place(place: str) -> str:
    return f"感谢您在{place}扫码关注。"


def welcome_back(settings: Settings, place: str | None) -> str:
    where = f"您在{place}扫了码。" if place else ""
    return f"欢迎回来！{where}直接发送您想咨询的问题即可，回复“帮助”查看用法。"


GREETING = "您好！请直接发送您想咨询的政策问题，比如“灵活就业人员社保补贴怎么申请”。"
THANKS = "不客气！还有其他问题可以随时发给我。"


# --- Staff answers from the unanswered inbox (bot/console) ------------------------------------

QUOTED_QUESTION_CHARS = 30


def staff_answer(settings: Settings, question: str, asked_on: date, answer: str) -> str:
    """The customer-service message that brings a staff answer to a resident who asked."""
    quoted = question.strip()
    if len(quoted) > QUOTED_QUESTION_CHARS:
        quoted = quoted[:QUOTED_QUESTION_CHARS] + "…"
    return (
        f"您好！您{asked_on.month}月{asked_on.day}日咨询的“{quoted}”，工作人员答复如下：\n"
        f"{answer.strip()}\n"
        f"——{settings.account_name}。还有疑问可以直接发消息问我，"
        f"或拨打 {settings.hotline} 政务服务便民热线。"
    )


# --- Subscriptions (handlers/subscriptions.py) ----------------------------------------------------

SUBSCRIBE_CONSENT = "订阅即表示您同意本账号向您推送所订主题的政策通知（每天最多几条，夜间不打扰）。"
UNSUBSCRIBE_HOW = "回复“退订 主题名”取消某个主题，回复“退订 全部”取消全部订阅。"


def topic_catalogue(topics: Sequence[tuple[str, str]]) -> str:
    """The topics one can subscribe to, with what each covers."""
    lines = ["可订阅的主题："]
    lines += [
        f"· {name}：{description}" if description else f"· {name}" for name, description in topics
    ]
    lines.append("回复“订阅 主题名”即可订阅，比如“订阅 就业创业”。")
    return "\n".join(lines)


def subscribed(added: Sequence[str], already: Sequence[str], remaining: Sequence[str]) -> str:
    lines = []
    if added:
        lines.append("已为您订阅：" + "、".join(added) + "。有新的政策通知时会推送给您。")
    if already:
        lines.append("您之前已订阅：" + "、".join(already) + "。")
    lines.append("您现在订阅的主题：" + "、".join(remaining) + "。")
    lines.append(SUBSCRIBE_CONSENT)
    lines.append(UNSUBSCRIBE_HOW)
    return "\n".join(lines)


def unsubscribed(removed: Sequence[str], remaining: Sequence[str]) -> str:
    if not removed:
        return "您没有订阅这个主题。回复“我的订阅”查看您订阅的主题。"
    lines = ["已取消订阅：" + "、".join(removed) + "。"]
    if remaining:
        lines.append("您仍订阅：" + "、".join(remaining) + "。")
    else:
        lines.append("您已没有任何订阅，本账号不会再向您推送通知，您的订阅信息已删除。")
    return "\n".join(lines)


def my_subscriptions(topics: Sequence[str], catalogue: Sequence[tuple[str, str]]) -> str:
    if not topics:
        return "【我的订阅】您还没有订阅任何主题。\n" + topic_catalogue(catalogue)
    return (
        "【我的订阅】您订阅的主题：" + "、".join(topics) + "。\n"
        "有新的政策通知时会推送给您（22:00–8:00 不打扰）。\n"
        "回复“订阅 主题名”增加主题。" + UNSUBSCRIBE_HOW
    )


def which_topic(choices: Sequence[str]) -> str:
    return "您想订阅哪个主题？" + "、".join(choices) + "。请回复“订阅 主题名”。"


def unknown_topic(words: str, catalogue: Sequence[tuple[str, str]]) -> str:
    head = f"没有找到“{words}”这个主题。" if words else "请告诉我要订阅的主题。"
    return head + "\n" + topic_catalogue(catalogue)


QUIET_HOURS_HOW = (
    "设置免打扰时段：回复“免打扰 22:00-08:00”（时段内不推送，结束后补发）；"
    "“免打扰 关闭”全天可推送；“免打扰 默认”恢复默认时段。"
)
QUIET_HOURS_NOT_SUBSCRIBED = (
    "您还没有订阅任何主题，无需设置免打扰。回复“我的订阅”查看可订阅的主题。"
)


def quiet_hours_set(window: str | None, default: str) -> str:
    if window is None:
        return f"已恢复默认免打扰时段（{default or '无'}）。"
    if window == "00:00-00:00":
        return "已关闭免打扰：有新通知时随时推送给您（每天条数仍有上限）。"
    return f"已设置免打扰时段 {window}：这段时间不推送，结束后再发给您。"


# --- Answers that lead with the part asked about (handlers/answers.py) -------------------------

EXEMPT_LABEL = "免申即享"
EXEMPT_NO_APPLICATION = "这项政策免申即享：无需申请，符合条件的由部门直接兑现。"
GRANTED_LABEL = "可享受的优惠"


def lead_heading(title: str, label: str) -> str:
    """The first line of an answer that leads with the part asked about."""
    return f"《{title}》· {label}"

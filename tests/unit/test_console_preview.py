"""The console's pure helpers: the WeChat preview (cut as the delivery engine cuts) and the
reviewer's character-level diff."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.console.notice_forms import content_from_form, form_of
from bot.console.preview import content_diff, wechat_preview
from push.notice_rules import NoticeContent, content_from_json, content_json
from push.tables import Channel

FIELDS = {"thing1": "title", "time2": "date", "thing3": "reason"}
WHEN = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Beijing


def test_the_preview_cuts_each_keyword_to_twenty_characters() -> None:
    content = NoticeContent(title="关于发放2026年度稳岗返还资金的通知请各企业注意查收", body="短")
    p = wechat_preview(content, FIELDS, WHEN)
    title, date, reason = p["keywords"]
    assert title["value"] == "关于发放2026年度稳岗返还资金的通知…"
    assert len(title["value"]) == 20
    assert title["cut"] is True
    assert date == {"key": "time2", "label": "发布日期", "value": "2026年12月07日", "cut": False}
    assert reason["value"] == "短"
    assert p["template"] is True


def test_an_eligibility_notice_previews_the_per_enterprise_reason() -> None:
    content = NoticeContent(title="研发费用加计扣除", body="正文", policy_id="P1", eligible=True)
    reason = wechat_preview(content, FIELDS, WHEN)["keywords"][2]["value"]
    assert reason == "（按每家企业符合的条件填写）"


def test_customer_service_notices_preview_as_text() -> None:
    content = NoticeContent(title="停水通知", body="明日停水", channel=Channel.CUSTOM)
    p = wechat_preview(content, FIELDS, WHEN)
    assert p["template"] is False
    assert p["text"].startswith("【通知】停水通知\n明日停水")


def test_the_diff_marks_what_was_deleted_and_inserted() -> None:
    before = NoticeContent(title="招聘会", body="12月10日上午九点", topics=("就业创业",))
    after = NoticeContent(title="招聘会", body="12月12日上午九点半", topics=("就业创业", "社保"))
    diffs = content_diff(before, after)
    assert [d.label for d in diffs] == ["正文", "接收对象"]
    assert diffs[0].parts == [
        ("same", "12月1"),
        ("del", "0"),
        ("ins", "2"),
        ("same", "日上午九点"),
        ("ins", "半"),
    ]
    assert content_diff(before, before) == []


def test_versions_round_trip_and_the_form_reads_chinese_separators() -> None:
    content = content_from_form(
        {"title": " 标题 ", "body": "正文", "audience": "topics", "topics": "社保、就业创业，住房"}
    )
    assert content.topics == ("住房", "就业创业", "社保")
    assert content.title == "标题"
    assert content_from_json(content_json(content)) == content
    assert form_of(content)["topics"] == "住房、就业创业、社保"
    mass = content_from_form({"title": "t", "body": "b", "audience": "all"})
    assert mass.to_all
    assert mass.channel is Channel.MASS

"""A deterministic synthetic policy library and question set, for scale runs only.

Records follow docs/policy-library-format.md: realistic Chinese titles built from templates
("<地区><对象><措施>实施办法", "关于印发《…管理办法》的通知", …), 文号, issuers that fit the
topic, 2–3 sentence summaries, about 10 % of policies with colloquial aliases. The same seed gives
the same library. The questions are paraphrase-like fragments of titles and summaries, a few
文号 look-ups and some random colloquial questions. Nothing here is meant to measure quality:
near-identical titles are frequent by construction, as in any large library.

    python -m bench.synthetic N [--seed 7] > library.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

CITY_HEADS = "云江青临安平永泰宁华东西南兴宝金玉清长新明德丰嘉瑞溪"
CITY_TAILS = "州阳川城山宁安海源沙"
DISTRICT_HEADS = "禾湖河桥林石松梅竹荷柳桂枫峰港湾坪滨塘"
DISTRICT_TAILS = ("区", "县", "区", "县", "区")


@dataclass(frozen=True)
class Topic:
    name: str
    department: str
    short: str  # in 文号: 人社, 民, 医保…
    objects: tuple[str, ...]
    measures: tuple[tuple[str, str], ...]  # (formal name, colloquial name or "")


TOPICS = (
    Topic(
        "就业创业",
        "人力资源和社会保障局",
        "人社",
        ("高校毕业生", "就业困难人员", "返乡创业人员", "灵活就业人员", "登记失业人员"),
        (
            ("就业见习补贴", "见习补贴"),
            ("一次性吸纳就业补贴", "招人补贴"),
            ("创业担保贷款贴息", "创业贷"),
            ("职业技能培训补贴", "培训补贴"),
            ("社会保险补贴", "社保补贴"),
            ("失业保险稳岗返还", "稳岗补贴"),
        ),
    ),
    Topic(
        "社会救助",
        "民政局",
        "民",
        ("低收入家庭", "特困人员", "困难群众", "流浪乞讨人员", "因病致贫家庭"),
        (
            ("最低生活保障", "低保"),
            ("临时救助", "应急救助"),
            ("特困人员救助供养", "五保"),
            ("医疗救助", "看病救助"),
        ),
    ),
    Topic(
        "养老服务",
        "民政局",
        "民",
        ("高龄老人", "失能老年人", "经济困难老年人", "空巢老人", "百岁老人"),
        (
            ("高龄津贴", "高龄补贴"),
            ("养老服务补贴", "养老补贴"),
            ("居家养老服务", ""),
            ("护理补贴", "护理费"),
        ),
    ),
    Topic(
        "医疗保障",
        "医疗保障局",
        "医保",
        ("城乡居民", "慢性病患者", "大病患者", "异地就医人员", "新生儿"),
        (
            ("门诊慢特病待遇", "慢病报销"),
            ("大病保险", "大病医保"),
            ("医疗费用报销", "看病报销"),
            ("参保缴费补助", "医保缴费补助"),
        ),
    ),
    Topic(
        "教育",
        "教育局",
        "教",
        ("家庭经济困难学生", "随迁子女", "学前儿童", "中职学生", "残疾学生"),
        (
            ("国家助学金", "助学金"),
            ("学费减免", "免学费"),
            ("义务教育入学", "上学报名"),
            ("营养改善计划补助", "营养餐"),
        ),
    ),
    Topic(
        "住房保障",
        "住房和城乡建设局",
        "建",
        ("新市民", "青年人", "中低收入住房困难家庭", "引进人才", "城镇困难职工"),
        (
            ("公共租赁住房保障", "公租房"),
            ("住房租赁补贴", "租房补贴"),
            ("购房补贴", "买房补贴"),
            ("保障性租赁住房", "保租房"),
        ),
    ),
    Topic(
        "企业扶持",
        "经济和信息化局",
        "经信",
        ("中小微企业", "专精特新企业", "个体工商户", "规模以上工业企业", "外贸企业"),
        (
            ("技术改造补助", "技改补贴"),
            ("贷款贴息", ""),
            ("房租减免", "免房租"),
            ("数字化转型奖励", "数字化补贴"),
        ),
    ),
    Topic(
        "科技创新",
        "科学技术局",
        "科",
        ("高新技术企业", "科技型中小企业", "新型研发机构", "科技人才", "众创空间"),
        (
            ("研发费用补助", "研发补贴"),
            ("认定奖励", "高企奖励"),
            ("科技创新券", "创新券"),
            ("科技成果转化奖励", ""),
        ),
    ),
    Topic(
        "农业农村",
        "农业农村局",
        "农",
        ("种粮农民", "家庭农场", "农民专业合作社", "新型农业经营主体", "脱贫户"),
        (
            ("耕地地力保护补贴", "种粮补贴"),
            ("农机购置补贴", "农机补贴"),
            ("农业保险保费补贴", "农险补贴"),
            ("产业奖补", ""),
        ),
    ),
    Topic(
        "残疾人服务",
        "残疾人联合会",
        "残联",
        ("困难残疾人", "重度残疾人", "残疾儿童", "残疾人家庭", "精神残疾人"),
        (
            ("生活补贴", "残疾补贴"),
            ("护理补贴", "残疾护理费"),
            ("康复救助", "康复补助"),
            ("辅助器具适配补贴", "轮椅补贴"),
        ),
    ),
    Topic(
        "退役军人服务",
        "退役军人事务局",
        "退役军人",
        ("退役士兵", "重点优抚对象", "现役军人家属", "烈士遗属", "自主就业退役士兵"),
        (
            ("一次性经济补助", ""),
            ("优待金", "优待金发放"),
            ("就业创业扶持", ""),
            ("定期抚恤补助", "抚恤金"),
        ),
    ),
    Topic(
        "税费优惠",
        "税务局",
        "税",
        ("小规模纳税人", "小型微利企业", "个体工商户", "重点群体创业人员", "制造业企业"),
        (
            ("增值税减免", "免增值税"),
            ("企业所得税优惠", "所得税减半"),
            ("六税两费减征", "六税两费"),
            ("留抵退税", "退税"),
        ),
    ),
    Topic(
        "文化旅游",
        "文化和旅游局",
        "文旅",
        ("旅游企业", "文化企业", "民宿经营者", "旅行社", "非遗传承人"),
        (
            ("文旅消费券", "消费券"),
            ("纾困补助", ""),
            ("质量保证金暂退", "退保证金"),
            ("传承补助", ""),
        ),
    ),
    Topic(
        "卫生健康",
        "卫生健康委员会",
        "卫健",
        ("计划生育家庭", "婴幼儿家庭", "孕产妇", "乡村医生", "独生子女家庭"),
        (
            ("育儿补贴", "生娃补贴"),
            ("托育服务补助", "托育补贴"),
            ("免费孕前优生健康检查", "免费孕检"),
            ("特别扶助金", "失独补助"),
        ),
    ),
    Topic(
        "交通出行",
        "交通运输局",
        "交",
        ("老年人", "出租汽车驾驶员", "货车司机", "农村客运经营者", "学生"),
        (
            ("免费乘坐公交", "老年卡"),
            ("燃油补贴", "油补"),
            ("通行费减免", "免过路费"),
            ("运营补贴", ""),
        ),
    ),
)

TITLE_FORMS = (
    "{region}{object}{measure}实施办法",
    "关于印发《{region}{measure}管理办法》的通知",
    "{region}关于进一步做好{object}{topic}工作的通知",
    "{region}支持{object}{measure}的若干措施",
    "{region}{object}{measure}发放管理暂行办法",
    "关于调整{region}{measure}标准的通知",
    "{region}{year}年{object}{measure}申报指南",
    "{region}{topic}{object}{measure}实施细则（{year}—{year2}年）",
    "关于做好{year}年{region}{object}{measure}工作的通知",
)

SENTENCES = (
    "对符合条件的{object}，按每人每月{amount}元的标准给予{measure}。",
    "申请人须具有{region}户籍，或在{region}连续缴纳社会保险满{months}个月。",
    "{measure}按季度申报、按月发放，同一对象最长享受{years}年。",
    "符合条件的可通过{region}政务服务网或{region}政务服务中心{window}号窗口提出申请。",
    "已享受同类补贴的不得重复申领，{department}对申报材料进行审核并公示{days}个工作日。",
    "{object}一次性给予{amount}元{measure}，所需资金由{region}财政承担。",
    "本办法自{year}年{month}月1日起施行，有效期{years}年。",
)

COLLOQUIAL = (
    "孩子上幼儿园有补助吗",
    "我爸八十多岁了能领什么钱",
    "公司招了个大学生有补贴不",
    "没工作了怎么办",
    "今天天气怎么样",
    "办身份证去哪里",
    "房租太贵了有没有补贴",
    "开个小饭馆能免税吗",
    "家里老人瘫痪了谁管",
    "看病花了好多钱能报吗",
    "我想自己创业有贷款吗",
    "残疾证怎么办",
    "种地有补贴吗",
    "退伍回来有什么政策",
    "生二胎给钱吗",
    "公积金怎么提",
    "社保断了怎么补",
    "低保怎么申请",
    "新能源车有补贴吗",
    "你们几点下班",
)

QUESTION_FORMS = (
    "{object}{colloquial}怎么申请",
    "{region}的{measure}标准是多少",
    "{measure}需要什么条件",
    "{object}有没有{colloquial}",
    "{colloquial}去哪里办",
    "我是{object}能领{colloquial}吗",
)


def _place(rng: random.Random) -> tuple[str, str]:
    return rng.choice(CITY_HEADS) + rng.choice(CITY_TAILS), rng.choice(DISTRICT_HEADS)


def regions(rng: random.Random, count: int = 400) -> list[tuple[str, str]]:
    """(region name, 文号 prefix): cities and districts, e.g. ("云州市青禾区", "青")."""
    out: dict[str, str] = {}
    while len(out) < count:
        city_head, district_head = _place(rng)
        city = city_head + "市"
        out.setdefault(city, city_head[0])
        district = district_head + rng.choice("禾湖山江城") + rng.choice(DISTRICT_TAILS)
        out.setdefault(city + district, district_head)
    return sorted(out.items())


def policies(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """``n`` policy records in the interchange format, the same for the same seed."""
    rng = random.Random(seed)
    places = regions(rng)
    numbers: Counter[str] = Counter()
    records = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        region, prefix = rng.choice(places)
        obj = rng.choice(topic.objects)
        measure, colloquial = rng.choice(topic.measures)
        year = rng.randint(2016, 2025)
        issued = date(year, 1, 1) + timedelta(days=rng.randint(0, 364))
        slots = {
            "region": region,
            "object": obj,
            "measure": measure,
            "topic": topic.name,
            "department": region + topic.department,
            "year": year,
            "year2": year + 2,
            "month": issued.month,
            "amount": rng.choice((100, 200, 300, 500, 800, 1000, 2000, 3000, 5000)),
            "months": rng.choice((6, 12, 24)),
            "years": rng.choice((1, 2, 3, 5)),
            "window": rng.randint(1, 30),
            "days": rng.choice((5, 7)),
        }
        kind = rng.choice(("发", "规", "办发"))
        key = f"{prefix}{topic.short}{kind}〔{year}〕"
        numbers[key] += 1
        sentences = rng.sample(SENTENCES, rng.randint(2, 3))
        record: dict[str, Any] = {
            "id": f"syn-{i:06d}",
            "title": rng.choice(TITLE_FORMS).format(**slots),
            "doc_number": f"{key}{numbers[key]}号",
            "issuer": slots["department"],
            "level": "县区" if region.endswith(("区", "县")) else "市",
            "region": region,
            "date": issued.isoformat(),
            "topics": [topic.name, obj],
            "summary": "".join(s.format(**slots) for s in sentences),
        }
        if rng.random() < 0.10:
            record["aliases"] = [colloquial or f"{obj}{measure}"]
        records.append(record)
    return records


@dataclass(frozen=True)
class Question:
    query: str
    source: str | None  # the policy it was made from, None for random colloquial ones
    kind: str  # colloquial | doc_number | summary | title


def questions(records: list[dict[str, Any]], n: int = 200, seed: int = 11) -> list[Question]:
    """Paraphrase-like fragments of titles and summaries, 文号 look-ups, colloquial questions."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.2:
            out.append(Question(rng.choice(COLLOQUIAL), None, "colloquial"))
            continue
        record = rng.choice(records)
        if roll < 0.3:
            out.append(Question(f"{record['doc_number']}讲的什么", record["id"], "doc_number"))
        elif roll < 0.6:
            summary = record["summary"]
            length = rng.randint(8, 20)
            start = rng.randint(0, max(0, len(summary) - length))
            out.append(Question(summary[start : start + length], record["id"], "summary"))
        else:
            topic = next(t for t in TOPICS if t.name == record["topics"][0])
            text = record["title"] + record["summary"]
            measure, colloquial = next(
                ((m, c) for m, c in topic.measures if m in text), rng.choice(topic.measures)
            )
            slots = {
                "region": record["region"],
                "object": record["topics"][1],
                "measure": measure,
                "colloquial": colloquial or measure,
            }
            query = rng.choice(QUESTION_FORMS).format(**slots)
            out.append(Question(query, record["id"], "title"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    for record in policies(args.n, args.seed):
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Places: which part of China a question asks about and which a policy belongs to.

A gazetteer of China's administrative divisions (GB/T 2260 codes of provinces, prefectures and
counties, shipped as ``data/divisions.tsv``), extended with the deployment's home region (which
may be a town or a place the table does not know). Names are found by their full form (四川省,
九龙坡区) or a short form people use (四川, 济南); a county's two-character short form is too
often an ordinary word (城区, 和县) and is not read.

A policy is *elsewhere* for a question when the question names a place and the policy belongs
to another place that is not above it: 朝阳市's allowance does not answer a question about
四川省. A national policy is never elsewhere, and a policy whose place is unknown neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from functools import cache
from importlib import resources

NATIONAL_CODE = "000000"
# Issuers (and titles) that speak for the whole country
_NATIONAL = re.compile(
    r"^(?:中华人民共和国|中共中央|国务院|全国|国家|中央|人力资源(?:和)?社会保障部|财政部|民政部|"
    r"教育部|住房和城乡建设部|农业农村部|商务部|科技部|工业和信息化部|交通运输部|退役军人事务部|"
    r"税务总局|市场监管总局|国资委)"
)
# A question that asks for the national rule (国家有补助吗), as opposed to a local one
_ASKS_NATIONAL = re.compile(r"国家|全国|中央")
_SUFFIXES = (
    "特别行政区",
    "维吾尔自治区",
    "壮族自治区",
    "回族自治区",
    "自治区",
    "自治州",
    "地区",
    "省",
    "市",
    "盟",
)
_COUNTY_SUFFIXES = ("自治县", "自治旗", "新区", "林区", "特区", "县", "区", "市", "旗")
# the peoples named in an autonomous area's name (大厂回族自治县 is 大厂 to its residents)
_PEOPLES = re.compile(
    r"(?:蒙古族|藏族|彝族|苗族|土家族|回族|壮族|哈萨克|朝鲜族|布依族|侗族|傣族|白族|哈尼族|黎族|"
    r"傈僳族|景颇族|羌族|土族|满族|瑶族|畲族|仡佬族|水族|纳西族|蒙古|维吾尔|各族)+$"
)
_NOT_PLACES = frozenset({"城区", "郊区", "矿区", "东区", "西区", "南区", "北区", "和县", "中区"})


class Tier(IntEnum):
    NATION = 0
    PROVINCE = 1
    CITY = 2
    COUNTY = 3
    TOWN = 4


@dataclass(frozen=True, slots=True)
class Place:
    code: str
    name: str
    tier: Tier
    parent: str | None  # code of the place above (None for the nation)


NATION = Place(NATIONAL_CODE, "全国", Tier.NATION, None)


@dataclass(frozen=True)
class Gazetteer:
    places: dict[str, Place]  # by code
    names: dict[str, tuple[str, ...]]  # name (full or short) → codes
    longest: int

    def chain(self, place: Place) -> list[Place]:
        """The place and every place above it, itself first (the nation last)."""
        out = [place]
        while out[-1].parent is not None and len(out) < 8:
            out.append(self.places.get(out[-1].parent, NATION))
        return out

    def find(self, text: str) -> list[Place]:
        """The places named in ``text``, longest names first, each name read once; where a
        short name is ambiguous (朝阳: a city and two districts) the one inside another place
        named in the text wins, else the highest tier."""
        found: list[tuple[str, ...]] = []
        i = 0
        while i < len(text):
            for n in range(min(self.longest, len(text) - i), 1, -1):
                codes = self.names.get(text[i : i + n])
                if codes:
                    found.append(codes)
                    i += n
                    break
            else:
                i += 1
        out: list[Place] = []
        named = {c for codes in found for c in codes}
        for codes in found:
            options = [self.places[c] for c in codes]
            inside = [p for p in options if p.parent in named or _inside(self, p, named)]
            pick = min(inside or options, key=lambda p: (-(p in inside), p.tier))
            if pick not in out:
                out.append(pick)
        return out

    def strip(self, text: str) -> str:
        """``text`` without the place names in it (read as ``find`` reads them)."""
        kept: list[str] = []
        i = 0
        while i < len(text):
            for n in range(min(self.longest, len(text) - i), 1, -1):
                if text[i : i + n] in self.names:
                    i += n
                    break
            else:
                kept.append(text[i])
                i += 1
        return "".join(kept)

    def most_specific(self, places: Sequence[Place]) -> Place | None:
        """The deepest of the places, when they lie on one line (四川省 成都市 → 成都市)."""
        if not places:
            return None
        deepest = max(places, key=lambda p: p.tier)
        line = {p.code for p in self.chain(deepest)}
        return deepest if all(p.code in line for p in places) else places[0]

    def place_of(self, texts: Iterable[str | None]) -> Place | None:
        """Where a policy belongs, from its region, issuer and title (first that says): the
        nation for a national issuer, None when nothing says."""
        for text in texts:
            if not text:
                continue
            found = self.most_specific(self.find(text))
            if found is not None:
                return found
            if _NATIONAL.search(text):
                return NATION
        return None

    def asked(self, question: str) -> Place | None:
        """The place a question asks about (the nation for 国家/全国), or None."""
        found = self.most_specific(self.find(question))
        if found is not None:
            return found
        return NATION if _ASKS_NATIONAL.search(question) else None

    def elsewhere(self, asked: Place | None, policy: Place | None) -> bool:
        """Whether a policy of ``policy`` cannot answer a question about ``asked``: it belongs
        to another place, neither above the one asked about nor inside it."""
        if asked is None or policy is None or policy.tier is Tier.NATION:
            return False
        if asked.tier is Tier.NATION:
            return True
        if any(p.code == policy.code for p in self.chain(asked)):
            return False  # the place asked about, or above it
        return not any(p.code == asked.code for p in self.chain(policy))  # inside it: fine

    def at_home(self, home: Place | None, policy: Place | None) -> bool:
        """Whether a policy is the home region's own or one of its parents' (or national)."""
        if home is None or policy is None:
            return False
        return any(p.code == policy.code for p in self.chain(home))

    def with_home(self, home: str) -> tuple[Gazetteer, Place | None]:
        """This gazetteer extended with a home region named in full (江屿省云州市青禾区, also
        a place it does not know, down to a town), and that home place."""
        places, names = dict(self.places), {k: list(v) for k, v in self.names.items()}
        parent: Place | None = None
        for part in _parts(home):
            known = [places[c] for c in names.get(part, ()) if places[c].name == part]
            under = [p for p in known if parent is None or p.parent == parent.code]
            if under:
                parent = under[0]
                continue
            tier = Tier(min((parent.tier if parent else Tier.NATION) + 1, Tier.TOWN))
            code = f"home{len(places)}"
            place = Place(code, part, tier, parent.code if parent else NATIONAL_CODE)
            places[code] = place
            for name in _names(part, tier):
                names.setdefault(name, []).append(code)
            parent = place
        longest = max(self.longest, *(len(n) for n in names))
        extended = Gazetteer(places, {k: tuple(v) for k, v in names.items()}, longest)
        return extended, parent


def _inside(g: Gazetteer, place: Place, named: set[str]) -> bool:
    return any(p.code in named for p in g.chain(place)[1:])


_PART = re.compile(
    r".+?(?:特别行政区|自治区|自治州|自治县|自治旗|地区|省|市|盟|县|区|旗|镇|乡|街道)"
)


def _parts(home: str) -> list[str]:
    """江屿省云州市青禾区 → [江屿省, 云州市, 青禾区]."""
    parts = _PART.findall(home.strip())
    return parts or [home.strip()]


def _names(full: str, tier: Tier) -> list[str]:
    """The full name and the short forms people use for it."""
    out = [full] if full not in _NOT_PLACES else []
    suffixes = _SUFFIXES if tier <= Tier.CITY else (*_COUNTY_SUFFIXES, "镇", "乡", "街道")
    for suffix in suffixes:
        if full.endswith(suffix) and len(full) > len(suffix):
            short = full[: -len(suffix)]
            short = _PEOPLES.sub("", short)
            autonomous = suffix in ("自治县", "自治旗") and short != full[: -len(suffix)]
            if len(short) >= (2 if tier <= Tier.CITY or autonomous else 3):
                out.append(short)
            if autonomous:  # 大厂回族自治县 is 大厂县 to its residents
                out.append(short + suffix[-1])
            break
    return out


@cache
def gazetteer() -> Gazetteer:
    """The shipped table of China's divisions (read once)."""
    text = resources.files("policy_index").joinpath("data/divisions.tsv").read_text("utf-8")
    places: dict[str, Place] = {NATIONAL_CODE: NATION}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, name = line.split("\t")
        if code.endswith("0000"):
            tier, parent = Tier.PROVINCE, NATIONAL_CODE
        elif code.endswith("00"):
            tier, parent = Tier.CITY, code[:2] + "0000"
        else:
            tier, parent = Tier.COUNTY, code[:4] + "00"
        places[code] = Place(code, name, tier, parent)
    for code, place in list(places.items()):  # a municipality's districts hang on it directly
        if place.parent is not None and place.parent not in places:
            places[code] = Place(code, place.name, place.tier, code[:2] + "0000")
    names: dict[str, list[str]] = {}
    for code, place in places.items():
        if place.tier is Tier.NATION:
            continue
        for name in _names(place.name, place.tier):
            names.setdefault(name, []).append(code)
    return Gazetteer(places, {k: tuple(v) for k, v in names.items()}, max(len(n) for n in names))

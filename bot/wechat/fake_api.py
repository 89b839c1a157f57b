"""A built-in fake of the WeChat API, served over HTTP on loopback.

Local mode points the real sender at it so everything can be tried without an official account
(``gongkai chat`` prints what it receives), and the tests drive our sender against it exactly as
they would against api.weixin.qq.com. It checks the access token like WeChat does, records every
call, and can be told to fail or stall the next call to a path.

For notices it behaves as WeChat does where a sender's correctness depends on it: a template
message's ``client_msg_id`` is delivered once per (openid, id) within 10 minutes; a user who
unfollowed gets 43004; a daily quota ends in 45009; a mass send's ``clientmsgid`` is accepted
once (45065 after). ``Faults`` inject, at random but reproducibly, the failures a sender must
survive: errcode -1, HTTP 500 before anything happened, HTTP 500 *after* the message was
delivered (the answer lost: the ambiguous case), and tokens expiring. ``stats()`` counts what
really reached users, so a benchmark can check that everyone got a notice exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN_TTL_S = 7200
CLIENT_MSG_ID_WINDOW_S = 600.0  # WeChat delivers one (openid, client_msg_id) per 10 minutes
SEND_PATHS = (
    "/cgi-bin/message/template/send",
    "/cgi-bin/message/subscribe/bizsend",
    "/cgi-bin/message/custom/send",
    "/cgi-bin/message/mass/sendall",
)


@dataclass
class Faults:
    """Probabilities, per send request, of each injected failure (0 = never)."""

    busy: float = 0.0  # errcode -1, nothing delivered
    http_500: float = 0.0  # HTTP 500, nothing delivered
    lost_answer: float = 0.0  # delivered, then HTTP 500: the sender cannot know
    token_expiry: float = 0.0  # every token dies before this request is checked
    seed: int = 2026

    @classmethod
    def parse(cls, text: str) -> Faults:
        """``"busy=0.02,http_500=0.01,lost_answer=0.005,token_expiry=0.001"``."""
        faults = cls()
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, value = item.partition("=")
            if name not in {"busy", "http_500", "lost_answer", "token_expiry", "seed"}:
                raise ValueError(f"unknown fault {name!r}")
            setattr(faults, name, int(value) if name == "seed" else float(value))
        return faults


@dataclass(frozen=True, slots=True)
class RecordedCall:
    seq: int
    path: str
    params: dict[str, str]
    body: dict[str, Any]
    raw: bytes = field(default=b"", repr=False)


@dataclass
class FakeWeChatServer:
    """Speaks the subset of the WeChat API that Gongkai uses."""

    app_id: str | None = None
    app_secret: str | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    menu: dict[str, Any] | None = None  # what menu/create last stored, as WeChat holds it
    _tokens: set[str] = field(default_factory=set)
    _failures: dict[str, deque[tuple[int, str]]] = field(default_factory=lambda: defaultdict(deque))
    _delays: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    base_url: str = ""
    record_sends: bool = True  # False: count notices without keeping each call (benchmarks)
    faults: Faults = field(default_factory=Faults)
    unfollowed: set[str] = field(default_factory=set)  # these users get 43004
    daily_quota: int | None = None  # message sends accepted before 45009
    sends: int = 0  # send requests received
    accepted: int = 0  # messages that reached a user
    deduplicated: int = 0  # resends WeChat recognised by client_msg_id / clientmsgid
    injected: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    received: Counter[tuple[str, str]] = field(default_factory=Counter)  # (user, notice) -> n
    _client_ids: dict[tuple[str, str], tuple[float, int]] = field(default_factory=dict)
    _rng: random.Random | None = None

    # --- control, for tests and demos -------------------------------------------------------

    def fail_next(
        self, path: str, errcode: int, errmsg: str = "faked error", times: int = 1
    ) -> None:
        for _ in range(times):
            self._failures[path].append((errcode, errmsg))

    def delay_next(self, path: str, seconds: float) -> None:
        self._delays[path].append(seconds)

    def expire_tokens(self) -> None:
        """Invalidate every issued token, as WeChat does when a token expires early."""
        self._tokens.clear()

    def stats(self) -> dict[str, Any]:
        """What reached users: every (user, notice) pair should have been received once."""
        per_notice: Counter[str] = Counter(notice for (_user, notice) in self.received)
        return {
            "sends": self.sends,
            "accepted": self.accepted,
            "deduplicated": self.deduplicated,
            "recipients": len(self.received),
            "duplicates": sum(n - 1 for n in self.received.values() if n > 1),
            "per_notice": dict(per_notice),
            "faults": dict(self.injected),
            "tokens_issued": self.tokens_issued,
        }

    def calls_to(self, path: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.path == path]

    def messages_to(self, openid: str) -> list[dict[str, Any]]:
        return [
            c.body
            for c in self.calls_to("/cgi-bin/message/custom/send")
            if c.body.get("touser") == openid
        ]

    # --- the HTTP side ------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._stable_token)
        app.router.add_get("/_fake/calls", self._list_calls)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_post("/_fake/faults", self._set_faults)
        app.router.add_post("/_fake/unfollow", self._unfollow)
        app.router.add_route("*", "/cgi-bin/{tail:.*}", self._api)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _pre(self, path: str) -> web.Response | None:
        if self._delays[path]:
            await asyncio.sleep(self._delays[path].popleft())
        if self._failures[path]:
            errcode, errmsg = self._failures[path].popleft()
            return web.json_response({"errcode": errcode, "errmsg": errmsg})
        return None

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """The JSON body, recorded with the raw bytes as WeChat would receive them."""
        raw = await request.read()
        if not raw:
            data: Any = {}
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                data = {"_invalid_json": raw.decode("utf-8", "replace")}
        body = data if isinstance(data, dict) else {"_value": data}
        if self.record_sends or request.path not in SEND_PATHS:
            self.calls.append(
                RecordedCall(next(self._seq), request.path, dict(request.query), body, raw)
            )
        return body

    async def _stable_token(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if (failure := await self._pre(request.path)) is not None:
            return failure
        if self.app_id and body.get("appid") != self.app_id:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        if self.app_secret and body.get("secret") != self.app_secret:
            return web.json_response({"errcode": 40125, "errmsg": "invalid appsecret"})
        token = "FAKE_" + secrets.token_urlsafe(24)
        self._tokens.add(token)
        self.tokens_issued += 1
        return web.json_response({"access_token": token, "expires_in": TOKEN_TTL_S})

    async def _api(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if (failure := await self._pre(request.path)) is not None:
            return failure
        sending = request.path in SEND_PATHS
        lose = False
        if sending:
            self.sends += 1
            fault = self._fault()
            if isinstance(fault, web.Response):
                return fault
            lose = fault == "lose"
        if request.query.get("access_token") not in self._tokens:
            return web.json_response(
                {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
            )
        if "_invalid_json" in body:
            return web.json_response({"errcode": 47001, "errmsg": "data format error"})
        if request.path.startswith("/cgi-bin/menu/"):
            return web.json_response(self._menu(request.path, body))
        if sending:
            return self._deliver(request.path, body, lose=lose)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def _fault(self) -> web.Response | str | None:
        """An injected failure for this send, drawn from ``faults`` (reproducibly)."""
        f = self.faults
        if not (f.busy or f.http_500 or f.lost_answer or f.token_expiry):
            return None
        if self._rng is None:
            self._rng = random.Random(f.seed)  # noqa: S311 - fault injection, not crypto
        draw = self._rng.random()
        if draw < f.token_expiry:
            self.injected["token_expiry"] += 1
            self._tokens.clear()
            return None
        draw -= f.token_expiry
        if draw < f.busy:
            self.injected["busy"] += 1
            return web.json_response({"errcode": -1, "errmsg": "system error"})
        draw -= f.busy
        if draw < f.http_500:
            self.injected["http_500"] += 1
            return web.Response(status=500, text="faked 500")
        draw -= f.http_500
        if draw < f.lost_answer:
            return "lose"  # counted when a delivery's answer is really lost
        return None

    def _deliver(self, path: str, body: dict[str, Any], *, lose: bool = False) -> web.Response:
        """A message send: quota, unfollowed users, idempotency keys, then delivery; ``lose``:
        answer HTTP 500 although the message was delivered."""
        touser = str(body.get("touser", "@all" if path.endswith("sendall") else ""))
        if self.daily_quota is not None and self.accepted >= self.daily_quota:
            return web.json_response(
                {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
            )
        if touser in self.unfollowed:
            return web.json_response({"errcode": 43004, "errmsg": "require subscribe"})
        if path.endswith("/template/send") and not body.get("template_id"):
            return web.json_response({"errcode": 40037, "errmsg": "invalid template_id"})
        key = str(body.get("client_msg_id") or body.get("clientmsgid") or "")
        now = time.monotonic()
        msgid = next(self._seq) + 1_000_000
        seen = self._client_ids.get((touser, key)) if key else None
        if seen is not None and now - seen[0] < CLIENT_MSG_ID_WINDOW_S:
            self.deduplicated += 1
            if path.endswith("sendall"):
                dup = {"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": seen[1]}
                return web.json_response(dup)
            msgid = seen[1]
        else:
            if key:
                self._client_ids[touser, key] = (now, msgid)
            self.accepted += 1
            notice = key.rsplit(":", 1)[0] if key else path
            self.received[touser, notice] += 1
        if lose:
            self.injected["lost_answer"] += 1
            return web.Response(status=500, text="faked 500 after delivery")
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if path.endswith("/template/send"):
            answer["msgid"] = msgid
        elif path.endswith("sendall"):
            answer["msg_id"] = msgid
        return web.json_response(answer)

    def _menu(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """menu/create, menu/get and menu/delete, with the count and size checks WeChat makes."""
        if path == "/cgi-bin/menu/get":
            if self.menu is None:
                return {"errcode": 46003, "errmsg": "menu no exist"}
            return {"menu": self.menu}
        if path == "/cgi-bin/menu/delete":
            self.menu = None
            return {"errcode": 0, "errmsg": "ok"}
        if path != "/cgi-bin/menu/create":
            return {"errcode": 48001, "errmsg": "api unauthorized (not faked)"}
        if (errcode := _menu_errcode(body)) is not None:
            return {"errcode": errcode, "errmsg": MENU_ERRORS[errcode]}
        self.menu = {"button": [_as_stored(b) for b in body["button"]]}
        return {"errcode": 0, "errmsg": "ok"}

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _set_faults(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.faults = Faults(**data)
        self._rng = None
        if "daily_quota" in request.query:
            self.daily_quota = int(request.query["daily_quota"])
        return web.json_response({"faults": data})

    async def _unfollow(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.unfollowed.update(str(o) for o in data.get("openids", []))
        return web.json_response({"unfollowed": len(self.unfollowed)})

    async def _list_calls(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0") or 0)
        return web.json_response(
            [
                {"seq": c.seq, "path": c.path, "body": c.body}
                for c in self.calls
                if c.seq > since and c.path != "/cgi-bin/stable_token"
            ],
            dumps=lambda o: json.dumps(o, ensure_ascii=False),
        )


MENU_ERRORS = {
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
}
_MENU_TYPES = {
    "click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
    "pic_weixin", "location_select", "miniprogram", "media_id", "view_limited", "article_id",
    "article_view_limited",
}  # fmt: skip


def _menu_errcode(body: dict[str, Any]) -> int | None:
    """The errcode WeChat's menu/create would give (counts, name and key sizes, types)."""
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016
    for top in buttons:
        subs = top.get("sub_button") or []
        if len(str(top.get("name", "")).encode()) > 16 or not top.get("name"):
            return 40018
        if not subs:
            if top.get("type") not in _MENU_TYPES:
                return 40017
            if len(str(top.get("key", "")).encode()) > 128:
                return 40019
            continue
        if len(subs) > 5:
            return 40023
        for sub in subs:
            if len(str(sub.get("name", "")).encode()) > 60 or not sub.get("name"):
                return 40025
            if sub.get("type") not in _MENU_TYPES:
                return 40024
            if len(str(sub.get("key", "")).encode()) > 128:
                return 40026
    return None


def _as_stored(button: dict[str, Any]) -> dict[str, Any]:
    """menu/get answers every button with a ``sub_button`` list (empty for plain buttons)."""
    subs = button.get("sub_button") or []
    return {**button, "sub_button": [_as_stored(s) for s in subs]}

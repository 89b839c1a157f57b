"""Our asynchronous WeChat API sender (wechatpy's client is synchronous and has no timeouts).

One shared aiohttp session with explicit timeouts; JSON bodies keep Chinese unescaped; every
errcode is classified once (``errcodes.classify``): a stale token is refreshed once and the call
retried once, "system busy" and network failures are retried a bounded number of times, and all
else surfaces as ``WeChatAPIError`` for the caller's one place of handling.

Retrying a failure after the request was sent (a timeout, a dropped connection, a 5xx) may make
WeChat act twice. That is harmless for reads and menus, not for a message: ``send_text_once``
retries only what certainly did not take effect (no connection, an errcode) and raises
``WeChatOutcomeUnknownError`` for the rest, so that a caller who records its sends (the staff
inbox) never sends a message twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.wechat.errcodes import (
    MENU_NOT_FOUND,
    Action,
    WeChatAPIError,
    WeChatOutcomeUnknownError,
    WeChatUnavailableError,
)
from bot.wechat.replies import Article
from bot.wechat.token import AccessTokenProvider, TokenStore

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.weixin.qq.com"
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter for transient failures."""

    attempts: int = 3
    base_s: float = 0.2
    cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return min(self.cap_s, self.base_s * 2.0**attempt) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


class WeChatClient:
    """Typed calls to the WeChat API used by Gongkai."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        token_store: TokenStore,
        app_id: str,
        app_secret: str,
        base_url: str = DEFAULT_API_BASE_URL,
        on_result: Callable[[str, str], None] | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout_s: float = 10.0,
    ) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._app_id = app_id
        self._app_secret = app_secret
        self._on_result = on_result  # (api, result) for the service's metrics
        self._retry = retry
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=min(3.0, timeout_s), sock_read=timeout_s
        )
        self.tokens = AccessTokenProvider(token_store, app_id, self._fetch_stable_token)

    @property
    def base_url(self) -> str:
        return self._base

    async def _fetch_stable_token(self) -> tuple[str, int]:
        data = await self._request(
            "/cgi-bin/stable_token",
            {
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": self._app_secret,
                "force_refresh": False,
            },
            token=None,
        )
        logger.info("access token refreshed", extra={"action": "token_refreshed"})
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def call(
        self, api: str, payload: Mapping[str, Any] | None = None, *, at_most_once: bool = False
    ) -> dict[str, Any]:
        """Call ``api`` with the access token; refresh a stale token once.

        With a ``payload`` it is POSTed as JSON; without one the call is a GET (menu/get …).
        ``at_most_once``: never repeat a request that may have reached WeChat (see above).
        """
        token = await self.tokens.get()
        try:
            return await self._request(api, payload, token=token, at_most_once=at_most_once)
        except WeChatAPIError as exc:
            if exc.action is not Action.REFRESH_TOKEN:
                raise
            token = await self.tokens.get(stale=token)
            return await self._request(api, payload, token=token, at_most_once=at_most_once)

    async def _request(
        self,
        api: str,
        payload: Mapping[str, Any] | None,
        *,
        token: str | None,
        at_most_once: bool = False,
    ) -> dict[str, Any]:
        params = {"access_token": token} if token else None
        body = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        for attempt in range(self._retry.attempts):
            last = attempt == self._retry.attempts - 1
            try:
                data = await self._send_once(api, body, params)
            except WeChatUnavailableError as exc:
                self._count(api, "unavailable")
                if last or (at_most_once and isinstance(exc, WeChatOutcomeUnknownError)):
                    raise
            else:
                errcode = int(data.get("errcode", 0) or 0)
                if errcode == 0:
                    self._count(api, "ok")
                    return data
                error = WeChatAPIError(errcode, str(data.get("errmsg", "")), api=api)
                self._count(api, f"errcode_{errcode}")
                if error.action is not Action.RETRY or last:
                    raise error
            await asyncio.sleep(self._retry.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(
        self, api: str, body: bytes | None, params: dict[str, str] | None
    ) -> dict[str, Any]:
        try:
            async with self._session.request(
                "GET" if body is None else "POST",
                self._base + api,
                data=body,
                params=params,
                headers=None if body is None else JSON_HEADERS,
                timeout=self._timeout,
            ) as resp:
                if resp.status >= 500:
                    raise WeChatOutcomeUnknownError(f"{api}: HTTP {resp.status}")
                raw = await resp.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # No connection was made: nothing reached WeChat.
            raise WeChatUnavailableError(f"{api}: {type(exc).__name__}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise WeChatOutcomeUnknownError(f"{api}: {type(exc).__name__}") from exc
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise WeChatOutcomeUnknownError(f"{api}: answer is not JSON") from exc
        if not isinstance(data, dict):
            raise WeChatOutcomeUnknownError(f"{api}: answer is not a JSON object")
        return data

    def _count(self, api: str, result: str) -> None:
        if self._on_result is not None:
            self._on_result(api, result)

    # Customer-service messages (客服消息): allowed within 48 h of the user's last message.

    async def send_text(self, openid: str, content: str) -> None:
        await self.call(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
        )

    async def send_text_once(self, openid: str, content: str) -> None:
        """``send_text`` that never repeats a request WeChat may have acted on.

        Raises ``WeChatOutcomeUnknownError`` when the message may or may not have been
        delivered; any other error means it certainly was not.
        """
        await self.call(
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
            at_most_once=True,
        )

    async def send_article(self, openid: str, article: Article) -> None:
        await self.call(
            "/cgi-bin/message/custom/send",
            {
                "touser": openid,
                "msgtype": "news",
                "news": {
                    "articles": [
                        {
                            "title": article.title,
                            "description": article.description,
                            "url": article.url,
                            "picurl": article.pic_url,
                        }
                    ]
                },
            },
        )

    # Notices. Each send is made at most once by this client (``at_most_once``): the delivery
    # engine decides, from the outcome, whether a resend is safe.

    async def send_template(
        self,
        openid: str,
        template_id: str,
        data: Mapping[str, str],
        *,
        url: str | None = None,
        client_msg_id: str | None = None,
    ) -> str | None:
        """A template message (模板消息); returns WeChat's msgid. ``client_msg_id`` makes WeChat
        deliver the same (openid, id) once within 10 minutes, so a resend is harmless."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            payload["url"] = url
        if client_msg_id:
            payload["client_msg_id"] = client_msg_id
        answer = await self.call("/cgi-bin/message/template/send", payload, at_most_once=True)
        return str(answer["msgid"]) if "msgid" in answer else None

    async def send_subscribe(
        self, openid: str, template_id: str, data: Mapping[str, str], *, page: str | None = None
    ) -> None:
        """A subscription notice (订阅通知, bizsend): needs an unused consent from the user."""
        payload: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if page:
            payload["page"] = page
        await self.call("/cgi-bin/message/subscribe/bizsend", payload, at_most_once=True)

    async def mass_send_text(self, content: str, *, clientmsgid: str) -> str | None:
        """A text broadcast to every follower (群发, is_to_all); WeChat fans it out. The same
        ``clientmsgid`` is refused as a duplicate (45065), which means it was sent."""
        answer = await self.call(
            "/cgi-bin/message/mass/sendall",
            {
                "filter": {"is_to_all": True},
                "msgtype": "text",
                "text": {"content": content},
                "clientmsgid": clientmsgid,
            },
            at_most_once=True,
        )
        return str(answer["msg_id"]) if "msg_id" in answer else None

    # Custom menu (自定义菜单). Clients fetch a changed menu when the user next opens the chat
    # and their copy is over 5 minutes old. Creating replaces the whole menu.

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        """Publish ``menu`` (``{"button": [...]}``, see ``bot.wechat.menu``)."""
        await self.call("/cgi-bin/menu/create", menu)

    async def get_menu(self) -> dict[str, Any] | None:
        """The account's menu as WeChat holds it (``{"menu": {...}}``), or None if it has none."""
        try:
            return await self.call("/cgi-bin/menu/get")
        except WeChatAPIError as exc:
            if exc.errcode == MENU_NOT_FOUND:
                return None
            raise

    async def delete_menu(self) -> None:
        """Remove the menu (and any conditional menus) from the account."""
        await self.call("/cgi-bin/menu/delete")

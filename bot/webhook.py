"""The WeChat callback endpoint: verify, decrypt, de-duplicate, dispatch within the reply budget.

GET answers WeChat's URL verification. POST checks, in this order: body size (413), signature
(403), timestamp window (403), XML and decryption (400), nonce reuse (403); then claims the
message so WeChat's retries never run a handler twice, and answers within the reply budget — or
answers ``success`` and sends the late answer through the customer-service API. Protocol errors
are logged and mapped to a 4xx here, in one place; handler failures never reach this module.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time

from aiohttp import web

from bot import keys
from bot.dispatch import handle_message
from bot.flood import counts_as_sent
from bot.log_setup import OpenidHash, openid_hash, request_id
from bot.receipts import CallbackLedger, Claim, ReceiptStatus
from bot.tasks import Finished, Started, start_eagerly
from bot.wechat import (
    CallbackError,
    InboundMessage,
    MalformedMessageError,
    MessageCrypto,
    ReplayError,
    parse_message,
    parse_xml,
    render_reply,
    verify_callback_signature,
)
from bot.wechat.errors import WeChatError
from bot.wechat.replies import SUCCESS, NewsReply, Reply

logger = logging.getLogger(__name__)


class PayloadTooLargeError(CallbackError):
    """The request body is larger than a WeChat callback can be."""

    http_status = 413
    reason = "too_large"


def routes(path: str) -> list[web.RouteDef]:
    return [web.get(path, verify_url), web.post(path, receive)]


async def verify_url(request: web.Request) -> web.Response:
    """URL verification from the admin console: echo ``echostr`` if the signature holds."""
    q = request.query
    try:
        verify_callback_signature(
            _token(request), q.get("timestamp", ""), q.get("nonce", ""), q.get("signature", "")
        )
    except CallbackError as exc:
        return _reject(request, exc, kind="verify")
    request.app[keys.METRICS].count_callback("verify", "ok")
    logger.info("callback URL verified", extra={"action": "url_verified"})
    return web.Response(text=q.get("echostr", ""), content_type="text/plain")


async def receive(request: web.Request) -> web.Response:
    started = time.monotonic()
    request_id.set(secrets.token_hex(6))
    app = request.app
    try:
        msg, crypto, body, nonce, now = await _authenticate(request)
        claim = await app[keys.LEDGER].admit(
            msg.dedupe_key,
            nonce=nonce,
            digest=hashlib.sha256(body).hexdigest(),
            now=now,
            sender=msg.from_user if counts_as_sent(msg) else None,
        )
    except CallbackError as exc:
        return _reject(request, exc, kind="unknown")
    openid_hash.set(OpenidHash(msg.from_user, app[keys.SETTINGS].openid_hash_salt))
    xml, outcome = await _answer(app, msg, claim, started)
    metrics = app[keys.METRICS]
    metrics.count_callback(msg.kind, outcome)
    metrics.reply_seconds.observe(time.monotonic() - started)
    logger.info(
        "callback answered",
        extra={"action": "callback", "kind": msg.kind, "outcome": outcome, "bytes": len(body)},
    )
    if xml == SUCCESS:
        return web.Response(text=SUCCESS, content_type="text/plain")
    if crypto is not None:
        xml = crypto.encrypt_reply(
            xml, timestamp=str(int(time.time())), nonce=str(secrets.randbelow(10**10))
        )
    return web.Response(text=xml, content_type="application/xml")


async def _authenticate(
    request: web.Request,
) -> tuple[InboundMessage, MessageCrypto | None, bytes, str, float]:
    app = request.app
    settings = app[keys.SETTINGS].wechat
    q = request.query
    body = await _read_limited(request, settings.max_body_bytes)
    timestamp, nonce = q.get("timestamp", ""), q.get("nonce", "")
    verify_callback_signature(_token(request), timestamp, nonce, q.get("signature", ""))
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise ReplayError("timestamp is not a number") from None
    now = time.time()
    if abs(now - sent_at) > settings.max_clock_skew_s:
        raise ReplayError("timestamp outside the accepted window")

    fields = parse_xml(body)
    crypto: MessageCrypto | None = None
    if q.get("encrypt_type", "raw").lower() == "aes":
        crypto = _crypto(request)
        encrypted = fields.get("Encrypt")
        if not isinstance(encrypted, str) or not encrypted:
            raise MalformedMessageError("encrypted callback without <Encrypt>")
        inner = crypto.decrypt_callback(
            encrypted, timestamp=timestamp, nonce=nonce, msg_signature=q.get("msg_signature", "")
        )
        fields = parse_xml(inner)
    return parse_message(fields), crypto, body, nonce, now


async def _answer(
    app: web.Application, msg: InboundMessage, claim: Claim, started: float
) -> tuple[str, str]:
    """The plaintext reply XML (or ``success``) and an outcome label for metrics."""
    budget = app[keys.SETTINGS].wechat.reply_budget_s
    ledger = app[keys.LEDGER]
    if not claim.first:
        app[keys.METRICS].dedupe_hits.inc()
        settled = claim if claim.status is not ReceiptStatus.PROCESSING else None
        if settled is None:
            remaining = max(0.0, budget - (time.monotonic() - started))
            settled = await ledger.wait_settled(msg.dedupe_key, remaining)
        if settled is not None and settled.status is ReceiptStatus.REPLIED and settled.reply_xml:
            return settled.reply_xml, "retry_replayed"
        return SUCCESS, "retry_success"

    # The handler runs at once; only if it has to wait (the matcher, the database) does the rest
    # become a task that the reply budget can give up on without cancelling it.
    handling = start_eagerly(handle_message(app, msg, sent_last_minute=claim.sent_last_minute))
    if isinstance(handling, Finished):
        return _replied(ledger, msg, handling.result)
    task = app[keys.TASKS].spawn(_rest_of(handling), name=f"handle:{msg.kind}")
    remaining = max(0.0, budget - (time.monotonic() - started))
    done, _pending = await asyncio.wait({task}, timeout=remaining)
    if task in done:
        return _replied(ledger, msg, task.result())
    ledger.finish(msg.dedupe_key, ReceiptStatus.LATE, SUCCESS)
    app[keys.TASKS].spawn(_reply_late(app, msg, task), name="late_reply")
    return SUCCESS, "late"


async def _rest_of(handling: Started[Reply | None]) -> Reply | None:
    return await handling


def _replied(ledger: CallbackLedger, msg: InboundMessage, reply: Reply | None) -> tuple[str, str]:
    xml = _render(reply, msg)
    ledger.finish(msg.dedupe_key, ReceiptStatus.REPLIED, xml)
    return xml, "replied" if reply is not None else "no_reply"


def _render(reply: Reply | None, msg: InboundMessage) -> str:
    if reply is None:
        return SUCCESS
    # WeChat shows one article when answering a user's message, up to eight for events.
    max_articles = 8 if msg.kind.startswith("event:") else 1
    return render_reply(
        reply,
        to_user=msg.from_user,
        from_user=msg.to_user,
        create_time=int(time.time()),
        max_articles=max_articles,
    )


async def _reply_late(
    app: web.Application, msg: InboundMessage, task: asyncio.Task[Reply | None]
) -> None:
    """Deliver an answer that missed the reply budget through the customer-service API."""
    reply = await task
    metrics = app[keys.METRICS]
    if reply is None:
        app[keys.LEDGER].finish(msg.dedupe_key, ReceiptStatus.SENT_LATE)
        return
    try:
        wechat = app[keys.WECHAT]
        if isinstance(reply, NewsReply):
            await wechat.send_article(msg.from_user, reply.articles[0])
        else:
            await wechat.send_text(msg.from_user, reply.content)
    except WeChatError as exc:
        metrics.late_replies.labels(result="failed").inc()
        logger.warning(
            "late reply could not be sent: %s", exc, extra={"action": "late_reply_failed"}
        )
        return
    metrics.late_replies.labels(result="sent").inc()
    app[keys.LEDGER].finish(msg.dedupe_key, ReceiptStatus.SENT_LATE)
    logger.info("late reply sent", extra={"action": "late_reply"})


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLargeError(f"body of {request.content_length} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _token(request: web.Request) -> str:
    token = request.app[keys.SETTINGS].wechat.token
    return token.get_secret_value() if token is not None else ""


def _crypto(request: web.Request) -> MessageCrypto:
    crypto = request.app[keys.CRYPTO]
    if crypto is None:
        raise MalformedMessageError("encrypted callback but no EncodingAESKey is configured")
    return crypto


def _reject(request: web.Request, exc: CallbackError, *, kind: str) -> web.Response:
    request.app[keys.METRICS].count_callback(kind, exc.reason)
    logger.warning(
        "callback rejected (%s): %s",
        exc.reason,
        exc,
        extra={"action": "callback_rejected", "reason": exc.reason, "peer": request.remote},
    )
    return web.Response(
        status=exc.http_status, text=f"{exc.http_status} {exc.reason}", content_type="text/plain"
    )

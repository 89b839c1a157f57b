"""Logging: one configuration function, JSON lines in production, a request-id/openid context.

Openids are never logged raw: ``hash_openid`` gives a short salted digest that still lets staff
follow one user's requests through the logs.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import SecretStr

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
openid_hash: contextvars.ContextVar[str | OpenidHash] = contextvars.ContextVar(
    "openid_hash", default="-"
)

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def hash_openid(openid: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{openid}".encode()).hexdigest()[:12]


class OpenidHash:
    """``hash_openid`` of the request's sender, worked out when a log line first needs it:
    most callbacks are answered without logging anything at all."""

    __slots__ = ("_digest", "_openid", "_salt")

    def __init__(self, openid: str, salt: SecretStr) -> None:
        self._openid, self._salt = openid, salt
        self._digest: str | None = None

    def __str__(self) -> str:
        if self._digest is None:
            self._digest = hash_openid(self._openid, self._salt.get_secret_value())
        return self._digest

    def __repr__(self) -> str:  # never the openid
        return f"OpenidHash({self})"


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.openid_hash = str(openid_hash.get())
        if not hasattr(record, "action"):
            record.action = "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(openid_hash)s %(action)s] %(message)s"
)


def configure_logging(*, json_lines: bool, level: str = "INFO") -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "filters": {"context": {"()": ContextFilter}},
            "formatters": {
                "json": {"()": JsonFormatter},
                "text": {"format": TEXT_FORMAT},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "filters": ["context"],
                    "formatter": "json" if json_lines else "text",
                }
            },
            "root": {"handlers": ["stderr"], "level": level.upper()},
            "loggers": {
                "aiohttp.access": {"level": "WARNING"},
                "alembic": {"level": "WARNING"},
            },
        }
    )

"""Configuration from the environment (prefix ``GONGKAI_``, nested with ``__``).

Nothing is read at import time: ``load_settings()`` is called once by the CLI and the result is
passed down. Without WeChat credentials the service runs in *local mode*: secrets are generated
(and kept in ``.gongkai/local-secrets.json`` so a chat client and the server agree on them) and
outbound WeChat calls go to a built-in fake. ``GONGKAI_ENV=production`` refuses to start while any
secret is missing.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.wechat.crypto import generate_encoding_aes_key
from push.config import PushSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///gongkai.db"
LOCAL_STATE_DIR = ".gongkai"
LOCAL_SECRETS_FILE = "local-secrets.json"
MIN_STAFF_TOKEN = 16


class ConfigError(Exception):
    """The configuration is incomplete or inconsistent."""


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class WeChatSettings(BaseModel):
    """The official account's credentials, from the WeChat admin console (开发 → 基本配置)."""

    token: SecretStr | None = None
    app_id: str | None = None
    app_secret: SecretStr | None = None
    aes_key: SecretStr | None = Field(
        default=None, description="EncodingAESKey (43 characters); needed for safe mode"
    )
    api_base_url: str | None = Field(
        default=None,
        description="Base URL of the WeChat API; unset = https://api.weixin.qq.com "
        "(or the built-in fake in local mode)",
    )
    callback_path: str = "/wechat"
    reply_budget_s: float = Field(default=4.0, gt=0, lt=5)
    max_clock_skew_s: int = Field(default=300, ge=30)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)

    @field_validator("aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            raw = value.get_secret_value()
            if len(raw) != 43 or any(c not in string.ascii_letters + string.digits for c in raw):
                raise ValueError("EncodingAESKey must be 43 letters and digits")
        return value


class MatcherSettings(BaseModel):
    """The policy matcher: sentence vectors on or off, how often to look for library changes."""

    embeddings: bool = True
    refresh_s: float = Field(default=10.0, gt=0)
    answer: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="lowest confidence answered directly (with sentence vectors: certainty)",
    )
    clarify: float | None = Field(
        default=None, ge=0, le=1, description="lowest confidence offered as a numbered choice"
    )
    margin: float | None = Field(
        default=None, ge=0, le=1, description="least lead over another policy for an answer"
    )
    unknown: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="largest share of question words unknown to the library for an answer",
    )

    shed_at: int = Field(
        default=4,
        ge=0,
        description=(
            "questions already being matched in this process from which new ones skip the "
            "sentence vectors (lexical matching, a quarter of the cost) so that a burst stays "
            "inside WeChat's 5 s; 0 never sheds"
        ),
    )

    vector_budget_ms: float = Field(
        default=50.0,
        ge=0,
        description=(
            "longest a question waits for its sentence vector, from its arrival at the "
            "matcher; past it the lexical result stands; 0 waits as long as it takes"
        ),
    )

    def bands(self) -> dict[str, float]:
        """The decision bands set in configuration (the calibrated ones apply otherwise)."""
        values = {
            "answer": self.answer,
            "clarify": self.clarify,
            "margin": self.margin,
            "unknown": self.unknown,
        }
        return {k: v for k, v in values.items() if v is not None}


class ConversationSettings(BaseModel):
    """Multi-turn conversations and per-user flood control."""

    memory_s: int = Field(
        default=600,
        ge=60,
        description="How long the last policy and numbered options are remembered for follow-ups",
    )
    max_per_minute: int = Field(
        default=20,
        ge=1,
        description="Messages one user may send per minute before getting a polite 'slow down'",
    )


class StaffSettings(BaseModel):
    """The staff side: the JSON API under ``/staff/api/`` and the unanswered inbox."""

    token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the staff API; unset = the API is off (local mode "
        "generates one)",
    )
    console_secure_cookies: bool = Field(
        default=False,
        description="Mark the staff console's session cookie Secure (set true when the console "
        "is served over https, as behind the reverse proxy in production)",
    )
    console_idle_minutes: int = Field(
        default=30,
        ge=5,
        le=240,
        description="Minutes without a request after which a console session ends",
    )
    console_upload_mb: int = Field(
        default=20,
        ge=1,
        le=200,
        description="Largest policy-library file (MB) the console's import page accepts; the "
        "rest of the service keeps aiohttp's 1 MB request limit",
    )
    similarity: float = Field(
        default=0.6,
        gt=0,
        le=1,
        description="How alike two unanswered questions must be to be grouped (0–1)",
    )

    @field_validator("token")
    @classmethod
    def _token_strength(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_STAFF_TOKEN:
            raise ValueError(f"the staff token must be at least {MIN_STAFF_TOKEN} characters")
        return value


PRODUCTION_SECRETS: tuple[tuple[str, str], ...] = (
    ("token", "GONGKAI_WECHAT__TOKEN"),
    ("app_id", "GONGKAI_WECHAT__APP_ID"),
    ("app_secret", "GONGKAI_WECHAT__APP_SECRET"),
    ("aes_key", "GONGKAI_WECHAT__AES_KEY"),
)


class Settings(BaseSettings):
    """Everything the service needs; see docs/configuration.md for each variable."""

    model_config = SettingsConfigDict(
        env_prefix="GONGKAI_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: SecretStr = SecretStr(DEFAULT_DATABASE_URL)
    wechat: WeChatSettings = WeChatSettings()
    matcher: MatcherSettings = MatcherSettings()
    conversation: ConversationSettings = ConversationSettings()
    staff: StaffSettings = StaffSettings()
    push: PushSettings = PushSettings()
    account_name: str = Field(default="本区政务公开", description="How the bot names the account")
    home_region: str | None = Field(
        default=None,
        description="The place the account serves, e.g. 江屿省云州市青禾区: its own and its "
        "parents' policies come first, another place's local policy is never the answer",
    )
    hotline: str = Field(default="12345", description="Phone line offered when the bot cannot help")
    qr_scenes: dict[str, str] = Field(
        default_factory=dict,
        description="Where each parametric QR code is posted, by scene (named in the welcome)",
    )
    log_json: bool | None = Field(
        default=None, description="JSON log lines; default on in production"
    )
    log_level: str = "INFO"
    openid_hash_salt: SecretStr = Field(
        default=SecretStr("gongkai"),
        description="Salt for the hashed openids written to logs",
    )
    state_dir: Path = Path(LOCAL_STATE_DIR)
    generated_credentials: bool = Field(
        default=False,
        exclude=True,
        description="Set by with_local_credentials(), never from the environment",
    )

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def local_mode(self) -> bool:
        """True when no real WeChat account is configured (the built-in fake answers outbound)."""
        w = self.wechat
        return self.generated_credentials or not (w.app_id and w.app_secret and w.token)

    @property
    def json_logs(self) -> bool:
        return self.production if self.log_json is None else self.log_json

    def missing_for_production(self) -> list[str]:
        """Names of the environment variables production still needs."""
        missing = []
        for field, env_name in PRODUCTION_SECRETS:
            value = getattr(self.wechat, field)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not raw:
                missing.append(env_name)
        return missing

    def production_warnings(self) -> list[str]:
        """Things that work but are unwise for a production account."""
        warnings = []
        if self.database_url.get_secret_value().startswith("sqlite"):
            warnings.append(
                "GONGKAI_DATABASE_URL points at SQLite; use PostgreSQL when several server "
                "processes share the account"
            )
        if not self.push.template_id:
            warnings.append(
                "GONGKAI_PUSH__TEMPLATE_ID is not set: notices cannot go out as template messages"
            )
        return warnings


def _local_secrets(state_dir: Path) -> dict[str, str]:
    """Load or create the generated local-mode credentials (kept private to this user)."""
    path = state_dir / LOCAL_SECRETS_FILE
    data: dict[str, Any] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        if {"token", "app_id", "app_secret", "aes_key", "staff_token"} <= data.keys():
            return {k: str(v) for k, v in data.items()}
    if not {"token", "app_id", "app_secret", "aes_key"} <= data.keys():
        data = {
            "token": secrets.token_urlsafe(18).replace("-", "x").replace("_", "y"),
            "app_id": "wxlocal" + secrets.token_hex(5),
            "app_secret": secrets.token_hex(16),
            "aes_key": generate_encoding_aes_key(),
        }
    data["staff_token"] = secrets.token_urlsafe(24)  # added to files from older versions
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return data


def with_local_credentials(settings: Settings) -> Settings:
    """Fill missing WeChat credentials with generated local ones (development only)."""
    if settings.production:
        raise ConfigError("local credentials are never generated in production")
    if not settings.local_mode:
        return settings
    generated = _local_secrets(settings.state_dir)
    w = settings.wechat
    wechat = w.model_copy(
        update={
            "token": w.token or SecretStr(generated["token"]),
            "app_id": w.app_id or generated["app_id"],
            "app_secret": w.app_secret or SecretStr(generated["app_secret"]),
            "aes_key": w.aes_key or SecretStr(generated["aes_key"]),
        }
    )
    staff = settings.staff.model_copy(
        update={"token": settings.staff.token or SecretStr(generated["staff_token"])}
    )
    push = settings.push
    if not push.template_id:  # the fake accepts any; WeChat would answer 40037
        push = push.model_copy(update={"template_id": "LOCAL_TEMPLATE"})
    return settings.model_copy(
        update={"wechat": wechat, "staff": staff, "push": push, "generated_credentials": True}
    )


def load_settings(**overrides: Any) -> Settings:
    """Read the environment once; refuse production without every secret."""
    settings = Settings(**overrides)
    if settings.generated_credentials:
        raise ConfigError("GONGKAI_GENERATED_CREDENTIALS cannot be set")
    if settings.production:
        missing = settings.missing_for_production()
        if missing:
            raise ConfigError(
                "production mode needs these settings, which are missing: " + ", ".join(missing)
            )
    return settings


def masked(settings: Settings) -> dict[str, Any]:
    """The effective configuration as a dict, secrets shown as '********' (or 'not set')."""

    def show(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return "********" if value.get_secret_value() else "(not set)"
        if isinstance(value, BaseModel):
            return {k: show(getattr(value, k)) for k in type(value).model_fields}
        if isinstance(value, Path | StrEnum):
            return str(value)
        return "(not set)" if value is None else value

    out = {
        k: show(getattr(settings, k))
        for k in type(settings).model_fields
        if k != "generated_credentials"
    }
    url = settings.database_url.get_secret_value()
    out["database_url"] = _mask_url_password(url)
    return out


def _mask_url_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "********"

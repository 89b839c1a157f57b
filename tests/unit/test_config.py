"""Configuration: environment names, production refusal, local-mode credentials, masking."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli import local_banner
from bot.config import ConfigError, load_settings, masked, with_local_credentials

AES = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aQ"


def set_account(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGKAI_WECHAT__TOKEN", "tok-secret-1")
    monkeypatch.setenv("GONGKAI_WECHAT__APP_ID", "wx0000000000000001")
    monkeypatch.setenv("GONGKAI_WECHAT__APP_SECRET", "app-secret-1")
    monkeypatch.setenv("GONGKAI_WECHAT__AES_KEY", AES)


def test_settings_come_from_gongkai_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    set_account(monkeypatch)
    monkeypatch.setenv("GONGKAI_DATABASE_URL", "postgresql+asyncpg://u:pw@db/gk")
    monkeypatch.setenv("GONGKAI_WECHAT__API_BASE_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("GONGKAI_WECHAT__REPLY_BUDGET_S", "3.5")
    settings = load_settings()
    assert not settings.local_mode
    assert settings.wechat.app_id == "wx0000000000000001"
    assert settings.wechat.api_base_url == "http://127.0.0.1:9999"
    assert settings.wechat.reply_budget_s == 3.5
    assert settings.database_url.get_secret_value().endswith("@db/gk")


def test_production_refuses_to_start_naming_each_missing_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GONGKAI_ENV", "production")
    monkeypatch.setenv("GONGKAI_WECHAT__TOKEN", "tok")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    for name in ("GONGKAI_WECHAT__APP_ID", "GONGKAI_WECHAT__APP_SECRET", "GONGKAI_WECHAT__AES_KEY"):
        assert name in message
    assert "GONGKAI_WECHAT__TOKEN" not in message


def test_production_starts_with_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGKAI_ENV", "production")
    set_account(monkeypatch)
    settings = load_settings()
    assert settings.production
    assert settings.json_logs
    with pytest.raises(ConfigError):
        with_local_credentials(settings)


def test_malformed_aes_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONGKAI_WECHAT__AES_KEY", "too-short")
    with pytest.raises(ValidationError, match="43"):
        load_settings()


def test_local_mode_generates_private_stable_credentials(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.local_mode
    first = with_local_credentials(settings)
    second = with_local_credentials(load_settings())
    assert first.wechat.token is not None
    assert second.wechat.token is not None
    assert first.wechat.token.get_secret_value() == second.wechat.token.get_secret_value()
    assert first.wechat.aes_key is not None
    assert len(first.wechat.aes_key.get_secret_value()) == 43
    secrets_file = tmp_path / ".gongkai" / "local-secrets.json"
    assert json.loads(secrets_file.read_text())["app_id"] == first.wechat.app_id
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600


def test_masked_configuration_shows_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    set_account(monkeypatch)
    monkeypatch.setenv("GONGKAI_DATABASE_URL", "postgresql+asyncpg://gk:db-password-9@db/gk")
    shown = json.dumps(masked(load_settings()), ensure_ascii=False)
    for secret in ("tok-secret-1", "app-secret-1", AES, "db-password-9"):
        assert secret not in shown
    assert "wx0000000000000001" in shown  # the AppID is not secret
    assert "gk:***@db/gk" in shown


def test_generated_credentials_keep_local_mode(tmp_path: Path) -> None:
    settings = with_local_credentials(load_settings())
    assert settings.wechat.app_id
    assert settings.local_mode  # still local: outbound calls must go to the built-in fake


def test_local_mode_generates_a_staff_token_and_keeps_it(tmp_path: Path) -> None:
    first = with_local_credentials(load_settings())
    second = with_local_credentials(load_settings())
    assert first.staff.token is not None
    assert second.staff.token is not None
    token = first.staff.token.get_secret_value()
    assert len(token) >= 16
    assert token == second.staff.token.get_secret_value()
    secrets_file = tmp_path / ".gongkai" / "local-secrets.json"
    assert json.loads(secrets_file.read_text())["staff_token"] == token
    assert token in local_banner(first, "127.0.0.1", 8080)
    assert "********" in json.dumps(masked(first))  # masked like every secret
    assert token not in json.dumps(masked(first))


def test_a_secrets_file_from_before_the_staff_api_gets_a_staff_token(tmp_path: Path) -> None:
    old = {"token": "t0123", "app_id": "wxlocal1", "app_secret": "s", "aes_key": AES}
    (tmp_path / ".gongkai").mkdir()
    (tmp_path / ".gongkai" / "local-secrets.json").write_text(json.dumps(old))
    settings = with_local_credentials(load_settings())
    assert settings.wechat.app_id == "wxlocal1"  # the old credentials are kept
    assert settings.staff.token is not None


def test_staff_api_is_off_without_a_token_and_refuses_a_short_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    set_account(monkeypatch)
    assert load_settings().staff.token is None  # a real account: no token generated
    monkeypatch.setenv("GONGKAI_STAFF__TOKEN", "")
    assert load_settings().staff.token is None
    monkeypatch.setenv("GONGKAI_STAFF__TOKEN", "short")
    with pytest.raises(ValidationError, match="at least 16"):
        load_settings()
    monkeypatch.setenv("GONGKAI_STAFF__TOKEN", "a-long-enough-staff-token")
    monkeypatch.setenv("GONGKAI_STAFF__SIMILARITY", "0.7")
    settings = load_settings()
    assert settings.staff.token is not None
    assert settings.staff.similarity == 0.7

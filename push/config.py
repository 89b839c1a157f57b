"""Push settings (``GONGKAI_PUSH__*``), declared here so that push needs nothing of the service;
``bot.config.Settings`` nests them as ``push``."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class QuietHours:
    """A daily window (Beijing time) in which nothing is pushed; it may span midnight."""

    def __init__(self, start: time, end: time) -> None:
        self.start = start
        self.end = end

    @classmethod
    def parse(cls, text: str | None) -> QuietHours | None:
        """``"22:00-08:00"`` → the window; empty or None → no quiet hours."""
        if text is None or not text.strip():
            return None
        m = _HOURS.match(text)
        if m is None:
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise ValueError(f"no such time of day in {text!r}")
        return cls(time(h1, m1), time(h2, m2))

    def contains(self, moment: datetime) -> bool:
        t = moment.astimezone(LOCAL_TZ).time()
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def ends_after(self, moment: datetime) -> datetime:
        """When the window containing ``moment`` ends (``moment`` itself if it is outside)."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(LOCAL_TZ)
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if end <= local:
            end += timedelta(days=1)
        return end


def next_local_midnight(moment: datetime) -> datetime:
    """The next 00:00 Beijing time after ``moment`` (when WeChat's daily quotas reset)."""
    local = moment.astimezone(LOCAL_TZ)
    return (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def local_day_start(moment: datetime) -> datetime:
    local = moment.astimezone(LOCAL_TZ)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class PushSettings(BaseModel):
    """Notices and their delivery."""

    quiet_hours: str = Field(
        default="22:00-08:00",
        description="Beijing-time window in which nothing is pushed (a subscriber may set their "
        "own); deliveries due inside it go out when it ends. Empty disables",
    )
    daily_cap: int = Field(
        default=3, ge=1, description="Most notices one person is sent per local day"
    )
    template_id: str = Field(
        default="",
        description="The template message's private template id (公众平台 → 模板消息); "
        "local mode uses a fake one",
    )
    template_fields: dict[str, str] = Field(
        default_factory=lambda: {"thing1": "title", "time2": "date", "thing3": "reason"},
        description="Template keyword → what fills it: title, date, summary (the body), "
        "reason (why an enterprise qualifies; the body for other notices), issuer; "
        "each value is cut to WeChat's 20 characters",
    )
    subscribe_template_id: str = Field(
        default="", description="The 订阅通知 template id for the subscription-message channel"
    )
    rate_per_s: float = Field(
        default=200.0, gt=0, description="Sends per second to each WeChat API, at most"
    )
    concurrency: int = Field(default=32, ge=1, description="Sends in flight at once")
    batch: int = Field(default=200, ge=1, description="Deliveries claimed per round trip")
    lease_s: float = Field(
        default=60.0,
        gt=0,
        description="How long a claimed batch belongs to its worker; a crashed worker's batch "
        "is taken over after it",
    )
    max_attempts: int = Field(default=6, ge=1, description="Tries for a transient failure")
    backoff_s: float = Field(default=2.0, gt=0, description="First retry delay (doubles)")
    backoff_cap_s: float = Field(default=300.0, gt=0, description="Longest retry delay")
    poll_s: float = Field(default=2.0, gt=0, description="How often an idle worker looks again")

    @field_validator("quiet_hours")
    @classmethod
    def _valid_quiet_hours(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    def quiet(self) -> QuietHours | None:
        return QuietHours.parse(self.quiet_hours)

"""Settings, read from the environment (prefix BRIDGE_) and an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.durations import parse_duration

MIN_KEY_LENGTH = 32
MIN_KEY_VARIETY = 10  # distinct characters
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "secret", "development", "example")


def key_weakness(key: str) -> str | None:
    """Why a configured secret key is too weak to sign anything, or None when it will do."""
    if not key:
        return "is empty"
    if any(ch.isspace() for ch in key):
        return "contains white space (a stray newline from a file?)"
    if len(key) < MIN_KEY_LENGTH:
        return f"is shorter than {MIN_KEY_LENGTH} characters"
    if len(set(key)) < MIN_KEY_VARIETY:
        return f"has fewer than {MIN_KEY_VARIETY} different characters"
    lowered = key.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return "looks like a placeholder"
    return None


class SmtpSettings(BaseModel):
    """How email leaves: the BRIDGE_SMTP_* settings as one value (see `Settings.smtp`)."""

    model_config = ConfigDict(frozen=True)

    host: str | None
    port: int
    username: str | None
    password: SecretStr | None
    sender: str
    starttls: bool
    use_ssl: bool
    timeout: float


class Settings(BaseSettings):
    """Every knob of incident-bridge. See the configuration reference in README.md."""

    # hide_input_in_errors: a refused value (a key, a password) never appears in an error.
    model_config = SettingsConfigDict(
        env_prefix="BRIDGE_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    environment: str = "development"
    database_url: str = "sqlite:///./var/incident-bridge.db"
    rules_dir: Path = Path("./rules")
    runbooks_dir: Path = Path("./runbooks")
    webhook_token: str | None = Field(default=None, repr=False)
    api_token: str | None = Field(default=None, repr=False)
    public_url: str = "http://127.0.0.1:8080"
    # The master key; unset: one is generated on first start and kept in the database.
    secret_key: SecretStr | None = Field(default=None, repr=False)
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # A webhook body not received completely within this time is answered 408.
    webhook_body_timeout_seconds: float = Field(default=30.0, gt=0, allow_inf_nan=False)
    # Group commit: how many webhooks one transaction may carry at most.
    intake_batch_max: int = Field(default=256, gt=0)
    # A body of more alerts is committed in chunks of this many (each its own transaction), so
    # the webhooks that arrive meanwhile do not wait for all of it.
    intake_chunk_alerts: int = Field(default=500, gt=0)
    # An intake transaction that takes longer is logged (a warning) with where its time went.
    intake_slow_batch_seconds: float = Field(default=0.5, gt=0, allow_inf_nan=False)
    # The web process's event loop waking this late is logged (a warning): every answer waited.
    event_loop_slow_seconds: float = Field(default=0.25, gt=0, allow_inf_nan=False)
    log_level: str = "info"
    # `json`: one JSON object a line on stderr, for log shippers; `text`: lines for people.
    log_format: Literal["text", "json"] = "text"

    # Paging. The smtp_* fields are read as BRIDGE_SMTP_*; code uses them grouped as `smtp`.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "incident-bridge@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    link_ttl: str = "24h"
    # `check-rules` warns about a runbook not reviewed for longer than this (a duration: 180d).
    runbook_max_age: str = "180d"
    page_max_attempts: int = Field(default=8, ge=1, le=50)
    dispatch_workers: int = Field(default=4, ge=1, le=64)
    escalation_interval_seconds: float = Field(default=5.0, gt=0)
    sweep_interval_seconds: float = Field(default=5.0, gt=0)
    outbound_timeout_seconds: float = Field(default=10.0, gt=0)
    # Run the escalation and retry jobs in this process (every replica may; rows are claimed).
    run_jobs: bool = True
    # Who sends the pages this process writes: `inline`, this process (and it runs the jobs);
    # `worker`, worker processes (`incident-bridge worker`, one started by `serve`), woken when
    # pages are committed. `serve` sets it to `worker` unless run with --inline.
    delivery: Literal["inline", "worker"] = "inline"

    # Web pages behind a single sign-on proxy: the header naming the person, honoured only from
    # these addresses or networks (comma-separated, e.g. "10.0.0.5, 10.1.0.0/16").
    trusted_user_header: str | None = None
    trusted_proxies: str = ""

    @property
    def smtp(self) -> SmtpSettings:
        """The SMTP settings as one value, for the email channel."""
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            username=self.smtp_username,
            password=self.smtp_password,
            sender=self.smtp_from,
            starttls=self.smtp_starttls,
            use_ssl=self.smtp_ssl,
            timeout=self.outbound_timeout_seconds,
        )

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("link_ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        if parse_duration(value).total_seconds() < 60:
            raise ValueError("BRIDGE_LINK_TTL must be at least 1m")
        return value

    @field_validator("runbook_max_age")
    @classmethod
    def _runbook_age(cls, value: str) -> str:
        if parse_duration(value).total_seconds() <= 0:
            raise ValueError("BRIDGE_RUNBOOK_MAX_AGE must be longer than 0 (e.g. 180d)")
        return value

    @field_validator("webhook_token", "api_token", "smtp_host", "trusted_user_header")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("secret_key")
    @classmethod
    def _strong_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        weakness = key_weakness(value.get_secret_value())
        if weakness:
            raise ValueError(
                f"BRIDGE_SECRET_KEY {weakness}: set a random key of {MIN_KEY_LENGTH}+ characters "
                "(e.g. `openssl rand -base64 48`), or leave it unset to have one generated"
            )
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()

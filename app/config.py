"""Settings, read from the environment (prefix BRIDGE_) and an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"", "change-me", "changeme", "secret", "dev", "development"}
DEFAULT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Every knob of incident-bridge. See the configuration reference in README.md."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_", env_file=".env", extra="ignore")

    environment: str = "development"
    database_url: str = "sqlite:///./var/incident-bridge.db"
    rules_dir: Path = Path("./rules")
    runbooks_dir: Path = Path("./runbooks")
    webhook_token: str | None = None
    api_token: str | None = None
    public_url: str = "http://127.0.0.1:8080"
    secret_key: str = DEFAULT_SECRET
    max_body_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    # Group commit: how many webhooks one transaction may carry at most.
    intake_batch_max: int = Field(default=256, gt=0)
    log_level: str = "info"

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("webhook_token", "api_token")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment != "development" and (
            self.secret_key == DEFAULT_SECRET
            or self.secret_key.lower() in PLACEHOLDER_SECRETS
            or len(self.secret_key) < 16
        ):
            raise ValueError(
                "BRIDGE_SECRET_KEY must be set to a real secret (16+ characters) "
                f"when BRIDGE_ENVIRONMENT is {self.environment!r}"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()

"""Settings refuse a placeholder secret key outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import DEFAULT_SECRET, Settings

REAL_KEY = "a-real-secret-key-of-32-characters"


def settings(**values: str) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize(
    "secret_key",
    [DEFAULT_SECRET, "change-me", "secret", "CHANGE-ME", "", "fifteen-chars!!"],
    ids=["default", "change-me", "secret", "upper-case placeholder", "empty", "15 characters"],
)
def test_a_placeholder_or_short_secret_refuses_to_start(environment: str, secret_key: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        settings(environment=environment, secret_key=secret_key)
    message = str(excinfo.value)
    assert "BRIDGE_SECRET_KEY must be set to a real secret" in message
    assert repr(environment) in message


def test_the_default_secret_is_refused_when_none_is_given() -> None:
    with pytest.raises(ValidationError, match="BRIDGE_SECRET_KEY"):
        settings(environment="production")


@pytest.mark.parametrize("secret_key", [REAL_KEY, "sixteen-chars!!!"])
def test_a_real_secret_of_16_or_more_characters_starts(secret_key: str) -> None:
    assert settings(environment="production", secret_key=secret_key).secret_key == secret_key


@pytest.mark.parametrize("secret_key", [DEFAULT_SECRET, "change-me", "short"])
def test_development_accepts_any_secret(secret_key: str) -> None:
    assert settings(environment="development", secret_key=secret_key).secret_key == secret_key

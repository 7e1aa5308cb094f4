"""Settings: no public key ever signs anything; weak keys are refused; errors never show secrets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.config import Settings
from app.instance.keys import derive, webhook_key_bytes
from app.main import create_app
from app.paging.links import BadLink, sign, verify
from tests.support import ROOT

REAL_KEY = "q7Vt-3xZp0LmR8sKw2NbYc6HdJf4GaUe"  # 32 characters, random


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize("environment", ["development", "production"])
@pytest.mark.parametrize(
    ("secret_key", "why"),
    [
        ("", "is empty"),
        ("short-but-random-9f3K", "shorter than 32"),
        ("q7Vt-3xZp0LmR8sKw2NbYc6HdJf4GaU e", "white space"),
        (REAL_KEY + "\n", "white space"),
        ("ab" * 20, "different characters"),
        ("please-change-me-to-something-random-1", "placeholder"),
        ("development-only-secret-change-me", "placeholder"),
    ],
    ids=["empty", "short", "space", "trailing newline", "low variety", "change-me", "old default"],
)
def test_a_weak_key_is_refused_in_every_environment(environment: str, secret_key: str, why: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        settings(environment=environment, secret_key=secret_key)
    (error,) = excinfo.value.errors()
    assert error["loc"] == ("secret_key",)
    assert why in error["msg"]
    assert secret_key.strip() not in str(excinfo.value) or not secret_key.strip()


def test_a_strong_key_is_taken() -> None:
    configured = settings(secret_key=REAL_KEY).secret_key
    assert configured is not None and configured.get_secret_value() == REAL_KEY


def test_no_key_configured_means_none_not_a_default() -> None:
    assert settings().secret_key is None


def test_a_refused_setting_never_prints_a_secret() -> None:
    """The old behaviour printed every field's value, the SMTP password included."""
    with pytest.raises(ValidationError) as excinfo:
        settings(secret_key="hunter2-key", smtp_password="hunter2-smtp-password")
    shown = str(excinfo.value)
    assert "hunter2" not in shown


def test_the_command_names_the_variable_and_hides_the_value() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "BRIDGE_SECRET_KEY": "hunter2-key",
        "BRIDGE_SMTP_PASSWORD": "hunter2-smtp-password",
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "BRIDGE_SECRET_KEY: BRIDGE_SECRET_KEY is shorter than 32 characters" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_without_a_key_one_is_generated_once_and_shared(database_url: str, rules_dir: Path) -> None:
    """Two app instances on one database (two replicas, or a restart) sign with the same key."""
    config = settings(database_url=database_url, rules_dir=rules_dir, run_jobs=False)
    with TestClient(create_app(config)) as first:
        links = first.app.state.runtime.keys.links  # type: ignore[attr-defined]
    with TestClient(create_app(config)) as second:
        assert second.app.state.runtime.keys.links == links  # type: ignore[attr-defined]
    # Not a public value: not derived from any key anyone could know.
    for public in ("", "development-only-secret-change-me", "change-me"):
        assert derive(public).links != links
    token = sign(links, 1, "alice", "acknowledge", _later())
    assert verify(links, token, _now()).recipient == "alice"


def test_each_purpose_has_its_own_key() -> None:
    keys = derive(REAL_KEY)
    assert len({keys.links, keys.webhooks, REAL_KEY}) == 3
    # A webhook receiver holds the webhook key: it cannot sign a link with it.
    forged = sign(keys.webhooks, 1, "alice", "resolve", _later())
    with pytest.raises(BadLink):
        verify(keys.links, forged, _now())
    # The webhook key is a Standard Webhooks secret whose bytes are the HMAC of the master key.
    expected = hmac.new(REAL_KEY.encode(), b"incident-bridge/webhooks/v1", hashlib.sha256).digest()
    assert keys.webhooks == "whsec_" + base64.b64encode(expected).decode()
    assert webhook_key_bytes(keys.webhooks) == expected
    assert "links" not in repr(keys).replace("links=***", "")


def _now() -> datetime:
    return datetime.now(UTC)


def _later() -> datetime:
    return _now() + timedelta(hours=1)

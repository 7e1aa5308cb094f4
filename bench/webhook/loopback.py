"""Paging stays on this machine: a copy of rules/ whose destinations point at the local sink.

rules/oncall.yaml pages through the service's log only; the benchmark measures real channels, so
its copy of rules/ takes examples/oncall/oncall-slack-pagerduty-email.yaml (Slack, PagerDuty,
webhooks, email) in its place, and every http(s) URL points at bench/webhook/notification_sink.py,
and every setting whose default is a non-local URL (the PagerDuty events URL) and SMTP point
there too. Without a sink, the on-call sections (and those that name their people, such as
communications) are left out, so nothing pages.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .common import HOST, ROOT

_URL = re.compile(r"^https?://", re.I)


def _redirect(value: Any, sink_url: str) -> tuple[Any, int]:
    """`value` with every http(s) URL in it pointed at the sink (host and path kept in the path)."""
    if isinstance(value, str) and _URL.match(value):
        parts = urlsplit(value)
        return f"{sink_url}/{parts.hostname}{parts.path}", 1
    if isinstance(value, dict):
        pairs = [(k, _redirect(v, sink_url)) for k, v in value.items()]
        return {k: v for k, (v, _) in pairs}, sum(n for _, (_, n) in pairs)
    if isinstance(value, list):
        items = [_redirect(v, sink_url) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


# Sections that name people of the on-call sections, so they go when those go.
PEOPLE_SECTIONS = ("communications", "reviews")


def prepare_rules(dest: Path, sink_url: str | None) -> int:
    """Copy rules/ to `dest` so that paging stays on this machine.

    With a sink, every http(s) destination of the on-call configuration (Slack, PagerDuty and
    webhook contacts) is pointed at it; without one, the on-call sections and those naming their
    people are left out, so nothing pages. Returns how many URLs were redirected.
    """
    try:
        from app.oncall.config import SECTIONS as oncall_sections
    except ImportError:
        oncall_sections = {}
    dest.mkdir(parents=True)
    redirected = 0
    for src in sorted((ROOT / "rules").iterdir()):
        if not src.is_file():
            continue
        if src.name == "oncall.yaml" and sink_url is not None:
            src = ROOT / "examples" / "oncall" / "oncall-slack-pagerduty-email.yaml"
        if src.suffix not in (".yaml", ".yml"):
            shutil.copy2(src, dest / src.name)
            continue
        data = yaml.safe_load(src.read_text())
        if sink_url is None and isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in oncall_sections and k not in PEOPLE_SECTIONS}
            if not data:
                continue
        data, n = _redirect(data, sink_url or "http://127.0.0.1:9")
        redirected += n
        name = "oncall.yaml" if src.parent.name == "oncall" else src.name
        (dest / name).write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return redirected


def loopback_settings(sink_url: str | None, smtp_port: int | None) -> dict[str, str]:
    """Environment pointing every outbound destination the service has a default for (such as
    the PagerDuty events URL) and SMTP at the sink; without a sink, at a closed local port."""
    from app.config import Settings

    env = {}
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, str) and _URL.match(default):
            parts = urlsplit(default)
            if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                target = sink_url or "http://127.0.0.1:9"
                env[f"BRIDGE_{name.upper()}"] = f"{target}/{parts.hostname}{parts.path}"
    if "smtp_host" in Settings.model_fields:
        env["BRIDGE_SMTP_HOST"] = HOST
        env["BRIDGE_SMTP_PORT"] = str(smtp_port or 9)
    return env

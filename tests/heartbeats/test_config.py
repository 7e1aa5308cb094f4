"""The `heartbeats:` section: what it declares, every problem with file:line (in check-rules
too), and the shipped example matching the shipped Alertmanager route."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from app.catalog.loader import ConfigError, load_catalog
from app.cli import main
from app.durations import parse_duration
from app.heartbeats.config import Heartbeat

ROOT = Path(__file__).resolve().parents[2]

ONCALL = """\
people:
  - id: alice
    contact: [{type: webhook, url: "http://127.0.0.1:9/alice"}]
escalation_policies:
  - id: platform
    steps: [{notify: ["person:alice"], after: 0m}]
default_escalation_policy: platform
"""
RUNBOOK = "---\nid: alerting-pipeline\ntitle: Alerting pipeline\n---\n## Containment\n1. Look\n"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "oncall.yaml").write_text(ONCALL)
    return directory


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    directory = tmp_path / "runbooks"
    directory.mkdir()
    (directory / "alerting-pipeline.md").write_text(RUNBOOK)
    return directory


def write(rules: Path, text: str) -> Path:
    path = rules / "60-heartbeats.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(rules: Path, runbooks: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_catalog(rules, runbooks)
    return caught.value.problems


def test_a_section_declares_heartbeats(rules: Path, runbooks: Path) -> None:
    path = write(
        rules,
        """\
        heartbeats:
          - name: watchdog
            matchers: ['alertname="Watchdog"', 'severity=~"none|"']
            interval: 5m
          - name: nightly-scoring
            interval: 1d2h
            escalation_policy: platform
            severity: SEV1
            runbook: alerting-pipeline
            description: the nightly batch scores every customer
        """,
    )

    declared = load_catalog(rules, runbooks).heartbeats

    watchdog, nightly = declared.heartbeats
    assert (watchdog.name, watchdog.interval, watchdog.severity) == ("watchdog", timedelta(minutes=5), "SEV2")
    assert (watchdog.escalation_policy, watchdog.runbook, watchdog.key) == (None, None, "heartbeat:watchdog")
    assert watchdog.source == f"{path}:2"
    assert watchdog.matches({"alertname": "Watchdog", "severity": "none"})
    assert not watchdog.matches({"alertname": "Watchdog", "severity": "critical"})
    assert (nightly.interval, nightly.escalation_policy, nightly.severity) == (
        timedelta(days=1, hours=2),
        "platform",
        "SEV1",
    )
    assert nightly.runbook == "alerting-pipeline"
    assert nightly.source == f"{path}:5"
    assert declared.fed_by_alerts == (watchdog,)
    assert declared.get("nightly-scoring") is nightly and declared.get("other") is None


def test_a_heartbeat_without_matchers_is_never_beaten_by_an_alert() -> None:
    heartbeat = Heartbeat(name="nightly", interval=timedelta(hours=1))
    assert not heartbeat.matches({})
    assert not heartbeat.matches({"alertname": "Watchdog"})


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("matchers: ['alertname=~\"(\"']", "heartbeat 'watchdog': bad regex in matcher 'alertname=~\"(\"'"),
        ("interval: soon", "heartbeat 'watchdog': interval: Value error, invalid duration 'soon'"),
        ("interval: 0s", "heartbeat 'watchdog': interval: Value error, the interval must be longer than 0"),
        ("escalation_policy: nobody", "heartbeat 'watchdog': unknown escalation policy 'nobody'"),
        ("runbook: gone", "heartbeat 'watchdog': unknown runbook 'gone'"),
        (
            "severity: SEV9",
            "heartbeat 'watchdog': severity: Input should be 'SEV1', 'SEV2', 'SEV3' or 'SEV4'",
        ),
        ("interval_s: 300", "heartbeat 'watchdog': interval_s: unknown key"),
    ],
    ids=["matcher", "interval", "zero-interval", "policy", "runbook", "severity", "unknown-key"],
)
def test_each_problem_names_file_and_line(rules: Path, runbooks: Path, item: str, expected: str) -> None:
    extra = "" if item.startswith("interval:") else "\n    interval: 5m"
    path = write(rules, f"# heartbeats\nheartbeats:\n  - name: watchdog\n    {item}{extra}\n")

    (problem,) = problems(rules, runbooks)

    assert problem.startswith(f"{path}:3: {expected}"), problem


def test_a_heartbeat_needs_a_name_fit_for_a_url_and_an_interval(rules: Path, runbooks: Path) -> None:
    path = write(rules, "heartbeats:\n  - name: nightly/batch\n  - {}\n  - just a name\n")

    found = problems(rules, runbooks)

    assert found[0].startswith(f"{path}:2: heartbeat 'nightly/batch': name: String should match pattern")
    assert found[1] == f"{path}:2: heartbeat 'nightly/batch': interval: Field required"
    assert f"{path}:3: heartbeat: name: Field required" in found
    assert any(p.startswith(f"{path}:4: heartbeat: Input should be a valid dictionary") for p in found)


def test_duplicate_names_name_both_places(rules: Path, runbooks: Path) -> None:
    first = write(rules, "heartbeats:\n  - {name: watchdog, interval: 5m}\n")
    second = rules / "60-more.yaml"
    second.write_text("heartbeats:\n  - {name: watchdog, interval: 1m}\n")

    assert problems(rules, runbooks) == [
        f"{second}:2: duplicate heartbeat name 'watchdog' (first at {first}:2)"
    ]


def test_check_rules_reports_heartbeat_problems(
    rules: Path, runbooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(rules, "heartbeats:\n  - {name: watchdog, interval: 5m, escalation_policy: nobody}\n")

    code = main(["check-rules", str(rules), "--runbooks", str(runbooks)])

    _, err = capsys.readouterr()
    assert code == 1
    assert f"{path}:2: heartbeat 'watchdog': unknown escalation policy 'nobody'" in err.splitlines()


def test_the_shipped_heartbeat_is_beaten_by_the_shipped_watchdog_route() -> None:
    """rules/60-heartbeats.yaml and examples/alertmanager/alertmanager.yml go together: the route
    sends the Watchdog to the bridge, repeated well within the heartbeat's interval."""
    shipped = load_catalog(ROOT / "rules", ROOT / "runbooks").heartbeats
    (watchdog,) = shipped.heartbeats
    config = yaml.safe_load((ROOT / "examples" / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}

    routes = [r for r in config["route"]["routes"] if 'alertname="Watchdog"' in r.get("matchers", [])]

    (route,) = routes
    assert watchdog.matches({"alertname": "Watchdog", "severity": "none"})
    (hook,) = receivers[route["receiver"]]["webhook_configs"]
    assert hook["url"].endswith("/webhooks/alertmanager")
    # The longest wait between two notifications: the repeat, plus up to one group interval.
    longest = parse_duration(route["repeat_interval"]) + parse_duration(route["group_interval"])
    assert 2 * longest <= watchdog.interval
    # It comes first: no other route takes the Watchdog before it.
    assert config["route"]["routes"].index(route) == 0

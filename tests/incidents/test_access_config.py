"""The `workspace:` section of the rules directory: defaults, validation with file:line
(`incident-bridge check-rules` and load_catalog alike), and hot reload."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.catalog.loader import ConfigError, load_catalog
from app.cli import main
from app.rules.workspace import DEFAULT_RESTRICTED_TYPES

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", target)
    return target


def problems_of(rules: Path) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        load_catalog(rules, RUNBOOKS)
    return excinfo.value.problems


def test_without_the_section_fairness_ethical_and_safety_are_restricted(rules: Path) -> None:
    catalog = load_catalog(rules, RUNBOOKS)
    assert catalog.workspace.restricted_types == DEFAULT_RESTRICTED_TYPES
    assert {"fairness_violation", "ethical", "safety"} == DEFAULT_RESTRICTED_TYPES


def test_the_section_replaces_the_default(rules: Path) -> None:
    (rules / "90-workspace.yaml").write_text("# who sees what\nworkspace:\n  restricted_types: [safety]\n")
    assert load_catalog(rules, RUNBOOKS).workspace.restricted_types == {"safety"}
    (rules / "90-workspace.yaml").write_text("workspace:\n  restricted_types: []\n")
    assert load_catalog(rules, RUNBOOKS).workspace.restricted_types == frozenset()


def test_unknown_keys_and_types_are_refused_with_file_and_line(rules: Path) -> None:
    path = rules / "90-workspace.yaml"
    path.write_text("# who sees what\n\nworkspace:\n  restricted_types: [fairness, safety]\n  colour: red\n")
    problems = problems_of(rules)
    assert f"{path}:3: workspace: colour: unknown key" in problems
    assert any(p.startswith(f"{path}:3: workspace: restricted_types.0: ") for p in problems), problems
    assert len(problems) == 2


def test_the_section_is_a_mapping_set_in_one_file(rules: Path) -> None:
    (rules / "90-a.yaml").write_text("workspace: [safety]\n")
    (rules / "91-b.yaml").write_text("workspace: {}\n")
    problems = problems_of(rules)
    assert any(p.startswith(f"{rules / '90-a.yaml'}:1: workspace: ") for p in problems), problems
    assert (
        f"{rules / '91-b.yaml'}:1: section 'workspace' is already set in {rules / '90-a.yaml'}:1" in problems
    )


def test_check_rules_reports_the_section(rules: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = rules / "90-workspace.yaml"
    path.write_text("workspace:\n  restricted: [safety]\n")
    code = main(["check-rules", str(rules), "--runbooks", str(RUNBOOKS)])
    _, err = capsys.readouterr()
    assert code == 1
    assert f"{path}:1: workspace: restricted: unknown key" in err.splitlines()


def test_a_reload_applies_the_section_to_new_incidents(client: TestClient, rules_dir: Path) -> None:
    (rules_dir / "90-workspace.yaml").write_text("workspace:\n  restricted_types: [technical_failure]\n")
    assert client.post("/-/reload").status_code == 200
    body = {"title": "Serving errors", "type": "technical_failure", "severity": "SEV3", "reported_by": "ops"}
    response = client.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["restricted"] is True
    # A broken edit is refused and the last good section stays in force.
    (rules_dir / "90-workspace.yaml").write_text("workspace:\n  restricted_types: [nope]\n")
    assert client.post("/-/reload").status_code == 422
    response = client.post("/api/v1/incidents", json=body)
    assert response.json()["restricted"] is True

"""load_catalog and `incident-bridge check-rules`: rule files on disk, every problem at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest

from app.catalog.loader import Catalog, ConfigError, load_catalog
from app.cli import main
from app.rules.engine import DEFAULT_REOPEN_WINDOW, Impact

ROOT = Path(__file__).resolve().parents[2]

EXAMPLE = """\
rules:
  - name: accuracy-drop
    matchers: ['alertname="ModelAccuracyDrop"']
    type: performance_degradation
    severity: SEV2
    group_by: [alertname, model]
    runbook: model-performance-degradation
  - name: fairness
    matchers: ['alertname=~"FairnessViolation|DemographicParityGap"', 'model!=""']
    type: fairness_violation
    impact: {technical: low, harm: high}     # severity from the technical x harm matrix
    group_by: [model]
    auto_resolve: false
    reopen_window: 6h
"""

# Owned and reviewed today: check-rules warns about neither.
RUNBOOK = (
    "---\nid: model-performance-degradation\ntitle: Model performance degradation\n"
    f"owner: ml-platform\nlast_reviewed: {date.today().isoformat()}\n---\n"
    "## Containment\n1. Roll back\n"
)

FULL_MATRIX = """\
severity_matrix:
  low: {low: SEV4, medium: SEV4, high: SEV1, critical: SEV1}
  medium: {low: SEV4, medium: SEV4, high: SEV1, critical: SEV1}
  high: {low: SEV3, medium: SEV3, high: SEV1, critical: SEV1}
  critical: {low: SEV2, medium: SEV2, high: SEV1, critical: SEV1}
"""


# Every (technical/harm) cell of a severity matrix, in the order problems list them.
LEVELS = ("low", "medium", "high", "critical")
ALL_CELLS = [f"{t}/{h}" for t in LEVELS for h in LEVELS]


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def rule_yaml(name: str, *extra: str, alertname: str = "A") -> str:
    """A valid rule item, plus extra `key: value` lines."""
    lines = [
        f"  - name: {name}",
        f"    matchers: ['alertname=\"{alertname}\"']",
        "    type: technical_failure",
        *(f"    {line}" for line in extra),
    ]
    if not any(line.startswith(("severity:", "impact:")) for line in extra):
        lines.append("    severity: SEV3")
    return "\n".join(lines) + "\n"


@pytest.fixture
def runbooks(tmp_path: Path) -> Path:
    directory = tmp_path / "runbooks"
    directory.mkdir()
    (directory / "model-performance-degradation.md").write_text(RUNBOOK, encoding="utf-8")
    return directory


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    return directory


def problems_of(rules_dir: Path, runbooks_dir: Path) -> list[str]:
    with pytest.raises(ConfigError) as excinfo:
        load_catalog(rules_dir, runbooks_dir)
    problems = excinfo.value.problems
    assert problems
    assert str(excinfo.value) == "; ".join(problems)
    return problems


def only_problem(rules_dir: Path, runbooks_dir: Path) -> str:
    problems = problems_of(rules_dir, runbooks_dir)
    assert len(problems) == 1, problems
    return problems[0]


# A good configuration


def test_example_rules_load(rules: Path, runbooks: Path) -> None:
    path = write(rules, "40-responsible-ai.yaml", EXAMPLE)

    config = load_catalog(rules, runbooks)

    assert isinstance(config, Catalog)
    assert config.files == (str(path),)
    assert list(config.runbooks) == ["model-performance-degradation"]
    accuracy, fairness = config.ruleset.rules

    assert accuracy.name == "accuracy-drop"
    assert accuracy.type == "performance_degradation"
    assert accuracy.severity == "SEV2"
    assert accuracy.impact is None
    assert accuracy.group_by == ("alertname", "model")
    assert accuracy.runbook == "model-performance-degradation"
    assert accuracy.auto_resolve is True
    assert accuracy.reopen_window == DEFAULT_REOPEN_WINDOW
    assert accuracy.source == f"{path}:2"

    assert fairness.name == "fairness"
    assert fairness.type == "fairness_violation"
    assert fairness.severity is None
    assert fairness.impact == Impact(technical="low", harm="high")
    assert config.ruleset.severity_of(fairness) == "SEV2"
    assert fairness.group_by == ("model",)
    assert fairness.runbook is None
    assert fairness.auto_resolve is False
    assert fairness.reopen_window == timedelta(hours=6)
    assert fairness.source == f"{path}:8"
    assert [str(m) for m in fairness.matchers] == [
        'alertname=~"FairnessViolation|DemographicParityGap"',
        'model!=""',
    ]


def test_example_rules_classify(rules: Path, runbooks: Path) -> None:
    write(rules, "rules.yaml", EXAMPLE)
    ruleset = load_catalog(rules, runbooks).ruleset

    fairness = ruleset.classify({"alertname": "DemographicParityGap", "model": "credit", "group": "g"})
    accuracy = ruleset.classify({"alertname": "ModelAccuracyDrop", "model": "credit", "severity": "info"})
    no_model = ruleset.classify({"alertname": "FairnessViolation"})

    assert (fairness.rule, fairness.severity, fairness.key) == (
        "fairness",
        "SEV2",
        'fairness:{model="credit"}',
    )
    assert (accuracy.rule, accuracy.severity, accuracy.runbook) == (
        "accuracy-drop",
        "SEV2",
        "model-performance-degradation",
    )
    assert no_model.rule == "unclassified"


def test_files_are_read_in_file_name_order(rules: Path, runbooks: Path) -> None:
    # Created in reverse order on purpose: creation order must not matter.
    later = write(rules, "20-b.yaml", "rules:\n" + rule_yaml("from-b", "severity: SEV4"))
    earlier = write(rules, "10-a.yaml", "rules:\n" + rule_yaml("from-a", "severity: SEV1"))

    config = load_catalog(rules, runbooks)

    assert config.files == (str(earlier), str(later))
    assert [r.name for r in config.ruleset.rules] == ["from-a", "from-b"]
    result = config.ruleset.classify({"alertname": "A"})
    assert (result.rule, result.severity) == ("from-a", "SEV1")


def test_first_match_wins_across_files(rules: Path, runbooks: Path) -> None:
    write(rules, "20-general.yaml", "rules:\n" + rule_yaml("general", "severity: SEV4"))
    write(
        rules,
        "10-specific.yaml",
        """\
        rules:
          - name: specific
            matchers: ['alertname="A"', 'model="m"']
            type: technical_failure
            severity: SEV1
        """,
    )
    ruleset = load_catalog(rules, runbooks).ruleset

    assert ruleset.classify({"alertname": "A", "model": "m"}).rule == "specific"
    assert ruleset.classify({"alertname": "A", "model": "other"}).rule == "general"


def test_yml_files_are_read_and_other_files_ignored(rules: Path, runbooks: Path) -> None:
    write(rules, "10-a.yml", "rules:\n" + rule_yaml("from-yml"))
    write(rules, "README.md", "rules: this is not YAML we read\n  - : :\n")
    write(rules, "20-b.yaml.bak", "not: [valid\n")
    (rules / "30-dir.yaml").mkdir()

    config = load_catalog(rules, runbooks)

    assert [r.name for r in config.ruleset.rules] == ["from-yml"]
    assert config.files == (str(rules / "10-a.yml"),)


def test_empty_files_and_empty_directories_load(rules: Path, runbooks: Path) -> None:
    assert load_catalog(rules, runbooks).ruleset.rules == ()
    write(rules, "00-empty.yaml", "# nothing here yet\n")
    write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a"))
    assert [r.name for r in load_catalog(rules, runbooks).ruleset.rules] == ["a"]


def test_rule_line_numbers_skip_comments_and_blank_lines(rules: Path, runbooks: Path) -> None:
    path = write(
        rules,
        "10-a.yaml",
        "# header comment\n\nrules:\n"
        + rule_yaml("first")
        + "\n  # a comment between rules\n\n"
        + rule_yaml("second", "description: >-\n      two\n      lines")
        + rule_yaml("third"),
    )

    sources = [r.source for r in load_catalog(rules, runbooks).ruleset.rules]

    assert sources == [f"{path}:4", f"{path}:11", f"{path}:18"]


def test_custom_severity_matrix_changes_derived_severities(rules: Path, runbooks: Path) -> None:
    write(rules, "00-matrix.yaml", FULL_MATRIX)
    write(rules, "40-responsible-ai.yaml", EXAMPLE)

    ruleset = load_catalog(rules, runbooks).ruleset

    fairness = ruleset.classify({"alertname": "FairnessViolation", "model": "credit"})
    accuracy = ruleset.classify({"alertname": "ModelAccuracyDrop", "model": "credit"})
    assert fairness.severity == "SEV1"  # low/high is SEV2 in the default matrix
    assert accuracy.severity == "SEV2"  # given directly: the matrix does not apply
    assert ruleset.severity_matrix["medium"]["low"] == "SEV4"


# Problems


# Each case: the rule's extra lines, the field path the problem names (after the file:line and
# rule label), and text of our own that must follow it exactly, or None where the rest of the
# message is pydantic's wording (which may change with a pydantic upgrade).
@pytest.mark.parametrize(
    ("extra", "field", "ours"),
    [
        (["severity: SEV3", "sevrity: SEV1"], "sevrity: ", "unknown key"),
        (["severity: SEV3", "runbok: x"], "runbok: ", "unknown key"),
        (["severity: SEV9"], "severity: ", None),
        (["severity: sev1"], "severity: ", None),
        (
            ["severity: SEV1", "impact: {technical: low, harm: high}"],
            "",
            "give exactly one of `severity` or `impact`",
        ),
        (["impact: {technical: low, harm: extreme}"], "impact.harm: ", None),
        (["impact: {technical: low}"], "impact.harm: ", None),
        (["severity: SEV3", "runbook: no-such-runbook"], "", "unknown runbook 'no-such-runbook'"),
        (
            ["severity: SEV3", "reopen_window: 6 hours"],
            "reopen_window: ",
            "invalid duration '6 hours': use forms such as 30s, 10m, 1h30m, 6h, 1d",
        ),
        (
            ["severity: SEV3", "reopen_window: 10"],
            "reopen_window: ",
            "duration must be a string such as '10m', got 10",
        ),
        (["severity: SEV3", "auto_resolve: 'no'"], "auto_resolve: ", None),
        (["severity: SEV3", "group_by: [model, model]"], "group_by: ", "group_by lists a label twice"),
        (
            ["severity: SEV3", "required_labels: [model, model]"],
            "required_labels: ",
            "required_labels lists a label twice",
        ),
        (["severity: SEV3", "required_labels: ['not a label']"], "required_labels.0: ", None),
        (["severity: SEV3", "required_labels: model"], "required_labels: ", None),
    ],
)
def test_rule_problem(rules: Path, runbooks: Path, extra: list[str], field: str, ours: str | None) -> None:
    path = write(rules, "10-a.yaml", "rules:\n" + rule_yaml("bad", *extra))

    problem = only_problem(rules, runbooks)

    assert_problem(problem, f"{path}:2: rule 'bad': {field}", ours)


def assert_problem(problem: str, prefix: str, ours: str | None) -> None:
    """`problem` starts with `prefix` (where, what, which field) and, when given, ends with
    `ours` (a validator's own "Value error, " wrapper from pydantic may stand between)."""
    assert problem.startswith(prefix), problem
    rest = problem.removeprefix(prefix)
    if ours is None:
        assert rest.strip(), problem  # some explanation follows the field path
    else:
        assert rest.endswith(ours), problem
        assert len(rest) - len(ours) <= len("Value error, "), problem


def test_rule_with_neither_severity_nor_impact(rules: Path, runbooks: Path) -> None:
    path = write(
        rules,
        "10-a.yaml",
        """\
        rules:
          - name: bad
            matchers: ['alertname="A"']
            type: safety
        """,
    )
    problem = only_problem(rules, runbooks)
    assert problem.startswith(f"{path}:2: rule 'bad': ")
    assert "exactly one of `severity` or `impact`" in problem


@pytest.mark.parametrize(
    ("item", "label", "field", "ours"),
    [
        ("type: incident", "bad", "type: ", None),
        ("type: Safety", "bad", "type: ", None),
        ("matchers: ['alertname=~\"(\"']", "bad", "", "bad regex in matcher 'alertname=~\"(\"': "),
        ("matchers: ['1abc=\"x\"']", "bad", "", "cannot parse matcher '1abc=\"x\"': "),
        ("name: 'has spaces'", "has spaces", "name: ", None),
    ],
)
def test_rule_problem_in_a_core_field(
    rules: Path, runbooks: Path, item: str, label: str, field: str, ours: str | None
) -> None:
    fields = {
        "name": "name: bad",
        "matchers": "matchers: ['alertname=\"A\"']",
        "type": "type: safety",
        "severity": "severity: SEV3",
    }
    fields[item.split(":", 1)[0]] = item
    path = write(rules, "10-a.yaml", "rules:\n  - " + "\n    ".join(fields.values()) + "\n")

    problem = only_problem(rules, runbooks)

    prefix = f"{path}:2: rule {label!r}: {field}"
    if ours is not None and ours.endswith(": "):  # our text, then the parser's own reason
        assert problem.startswith(prefix + ours) and problem.removeprefix(prefix + ours), problem
    else:
        assert_problem(problem, prefix, ours)


def test_every_problem_is_reported_at_once(rules: Path, runbooks: Path) -> None:
    syntax = write(rules, "05-syntax.yaml", "rules:\n  - name: a\n    type: x: y\n")
    bad = write(
        rules,
        "10-bad.yaml",
        """\
        rules:
          - name: unknown-key
            matchers: ['alertname="A"']
            type: safety
            severity: SEV1
            colour: red
          - name: bad-regex
            matchers: ['alertname=~"("']
            type: safety
            severity: SEV1
          - name: bad-type
            matchers: ['alertname="B"']
            type: outage
            severity: SEV1
          - name: bad-severity
            matchers: ['alertname="C"']
            type: safety
            severity: SEV0
          - name: both
            matchers: ['alertname="D"']
            type: safety
            severity: SEV1
            impact: {technical: low, harm: low}
          - name: neither
            matchers: ['alertname="E"']
            type: safety
          - name: bad-runbook
            matchers: ['alertname="F"']
            type: safety
            severity: SEV1
            runbook: nowhere
          - name: bad-window
            matchers: ['alertname="G"']
            type: safety
            severity: SEV1
            reopen_window: soon
        alerts: []
        """,
    )
    dup_first = write(rules, "20-dup.yaml", "rules:\n" + rule_yaml("dup"))
    dup_second = write(rules, "30-dup.yaml", "rules:\n" + rule_yaml("ok") + rule_yaml("dup"))
    matrix = write(rules, "40-matrix.yaml", "severity_matrix:\n  low: {low: SEV4}\n")
    matrix_again = write(rules, "50-matrix.yaml", FULL_MATRIX)
    listed = write(rules, "60-list.yaml", "- name: a\n- name: b\n")

    problems = problems_of(rules, runbooks)

    def one(prefix: str, *needles: str) -> str:
        found = [p for p in problems if p.startswith(prefix) and all(n in p for n in needles)]
        assert len(found) == 1, (prefix, needles, problems)
        return found[0]

    one(f"{syntax}:3:", "YAML syntax error")
    one(f"{bad}:2: rule 'unknown-key'", "colour: unknown key")
    one(f"{bad}:7: rule 'bad-regex'", "bad regex")
    one(f"{bad}:11: rule 'bad-type': type: ")
    one(f"{bad}:15: rule 'bad-severity': severity: ")
    one(f"{bad}:19: rule 'both'", "exactly one of")
    one(f"{bad}:24: rule 'neither'", "exactly one of")
    one(f"{bad}:27: rule 'bad-runbook'", "unknown runbook 'nowhere'")
    one(f"{bad}:32: rule 'bad-window'", "reopen_window", "soon")
    one(f"{bad}: unknown top-level section 'alerts'")
    one(f"{dup_second}:", "duplicate rule name 'dup'", f"{dup_first}:2")
    one(f"{matrix}", "missing cells", "low/medium", "critical/critical")
    one(f"{matrix_again}", "'severity_matrix' is already set in", str(matrix))
    one(f"{listed}:1:", "must be a mapping")
    assert len(problems) == 14, problems


def test_yaml_syntax_error_names_file_and_line(rules: Path, runbooks: Path) -> None:
    path = write(rules, "f.yaml", "rules:\n  - name: a\n    matchers: ['x=\"a\"'\n    type: safety\n")
    problem = only_problem(rules, runbooks)
    assert problem.startswith(f"{path}:4:")
    assert "YAML syntax error" in problem


def test_yaml_syntax_error_does_not_hide_other_files(rules: Path, runbooks: Path) -> None:
    write(rules, "10-broken.yaml", "rules:\n\t- name: a\n")
    write(rules, "20-good.yaml", "rules:\n" + rule_yaml("good", "runbook: missing"))
    problems = problems_of(rules, runbooks)
    assert len(problems) == 2
    assert "10-broken.yaml:2:" in problems[0]
    assert "20-good.yaml:2: rule 'good': unknown runbook 'missing'" in problems[1]


def test_unknown_top_level_section_is_named(rules: Path, runbooks: Path) -> None:
    path = write(rules, "10-a.yaml", "rules: []\nescalation:\n  - after: 10m\n")
    problem = only_problem(rules, runbooks)
    assert problem.startswith(f"{path}: unknown top-level section 'escalation'")
    assert "rules" in problem and "severity_matrix" in problem


def test_rules_section_must_be_a_list(rules: Path, runbooks: Path) -> None:
    path = write(rules, "10-a.yaml", "rules:\n  name: a\n")
    assert only_problem(rules, runbooks) == f"{path}: section 'rules' must be a list"


def test_rule_item_that_is_not_a_mapping(rules: Path, runbooks: Path) -> None:
    path = write(rules, "10-a.yaml", "rules:\n  - just a string\n")
    problem = only_problem(rules, runbooks)
    assert problem.startswith(f"{path}:2: rule: ")
    assert "dictionary" in problem


def test_duplicate_rule_names_mention_both_locations(rules: Path, runbooks: Path) -> None:
    first = write(rules, "10-a.yaml", "rules:\n" + rule_yaml("same"))
    second = write(rules, "20-b.yaml", "rules:\n" + rule_yaml("other") + rule_yaml("same"))
    problem = only_problem(rules, runbooks)
    assert problem == f"{second}:6: duplicate rule name 'same' (first at {first}:2)"


def test_duplicate_rule_names_in_one_file(rules: Path, runbooks: Path) -> None:
    path = write(rules, "10-a.yaml", "rules:\n" + rule_yaml("same") + rule_yaml("same"))
    problem = only_problem(rules, runbooks)
    assert problem == f"{path}:6: duplicate rule name 'same' (first at {path}:2)"


@pytest.mark.parametrize(
    ("matrix", "missing"),
    [
        ("severity_matrix:\n  low: {low: SEV4}\n", [c for c in ALL_CELLS if c != "low/low"]),
        (
            FULL_MATRIX.replace("critical: {low: SEV2, medium: SEV2, high: SEV1, critical: SEV1}", ""),
            ["critical/low", "critical/medium", "critical/high", "critical/critical"],
        ),
        (FULL_MATRIX.replace(", critical: SEV1}", "}", 1), ["low/critical"]),
    ],
)
def test_incomplete_severity_matrix(rules: Path, runbooks: Path, matrix: str, missing: list[str]) -> None:
    path = write(rules, "00-matrix.yaml", matrix)
    problem = only_problem(rules, runbooks)
    assert problem == f"{path}: severity_matrix: missing cells {', '.join(missing)}"


@pytest.mark.parametrize(
    ("matrix", "expected"),
    [
        (FULL_MATRIX.replace("high: SEV1, critical: SEV1}", "high: SEV5, critical: SEV1}", 1), "low.high"),
        (FULL_MATRIX.replace("medium: {", "moderate: {"), "moderate"),
        ("severity_matrix: [SEV1, SEV2]\n", "dictionary"),
    ],
)
def test_invalid_severity_matrix(rules: Path, runbooks: Path, matrix: str, expected: str) -> None:
    path = write(rules, "00-matrix.yaml", matrix)
    problems = problems_of(rules, runbooks)
    assert all(p.startswith(f"{path}: severity_matrix: ") for p in problems), problems
    assert any(expected in p for p in problems), problems


def test_severity_matrix_in_two_files(rules: Path, runbooks: Path) -> None:
    first = write(rules, "00-matrix.yaml", FULL_MATRIX)
    second = write(rules, "10-matrix.yaml", FULL_MATRIX)
    problem = only_problem(rules, runbooks)
    assert problem == f"{second}: section 'severity_matrix' is already set in {first}"


@pytest.mark.parametrize("text", ["- name: a\n  type: safety\n", "just a string\n", "42\n"])
def test_file_that_is_not_a_mapping(rules: Path, runbooks: Path, text: str) -> None:
    path = write(rules, "10-a.yaml", text)
    problem = only_problem(rules, runbooks)
    assert problem.startswith(f"{path}:1: ")
    assert "must be a mapping" in problem


def test_missing_rules_directory(tmp_path: Path, runbooks: Path) -> None:
    missing = tmp_path / "no-such-rules"
    assert problems_of(missing, runbooks) == [f"{missing}: rules directory not found"]


def test_rules_path_that_is_a_file(tmp_path: Path, runbooks: Path) -> None:
    path = write(tmp_path, "rules.yaml", EXAMPLE)
    assert problems_of(path, runbooks) == [f"{path}: rules directory not found"]


def test_runbook_problems_are_reported_with_rule_problems(rules: Path, runbooks: Path) -> None:
    broken = write(runbooks, "broken.md", "no front matter here\n")
    write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a", "severity: SEV0"))
    problems = problems_of(rules, runbooks)
    assert len(problems) == 2
    assert any(p.startswith(str(broken)) and "front matter" in p for p in problems)
    assert any("rule 'a'" in p and "severity" in p for p in problems)


def test_missing_runbooks_directory_is_a_problem(rules: Path, tmp_path: Path) -> None:
    write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a"))
    missing = tmp_path / "no-such-runbooks"
    assert problems_of(rules, missing) == [f"{missing}: runbooks directory not found"]


def test_problems_in_several_fields_of_one_rule_are_all_reported(rules: Path, runbooks: Path) -> None:
    path = write(
        rules,
        "10-a.yaml",
        """\
        rules:
          - name: many
            matchers: ['alertname=~"("']
            type: outage
            severity: SEV1
            runbook: nowhere
        """,
    )
    problems = problems_of(rules, runbooks)
    assert all(p.startswith(f"{path}:2: rule 'many': ") for p in problems)
    assert any("bad regex" in p for p in problems)
    assert any(p.startswith(f"{path}:2: rule 'many': type: ") for p in problems)
    assert any("unknown runbook 'nowhere'" in p for p in problems)


def test_missing_rules_directory_keeps_runbook_problems(tmp_path: Path, runbooks: Path) -> None:
    write(runbooks, "broken.md", "no front matter here\n")
    problems = problems_of(tmp_path / "no-such-rules", runbooks)
    assert any("rules directory not found" in p for p in problems)
    assert any("broken.md" in p for p in problems)


def test_reopen_window_zero_as_yaml_integer(rules: Path, runbooks: Path) -> None:
    write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a", "reopen_window: 0"))
    (rule,) = load_catalog(rules, runbooks).ruleset.rules
    assert rule.reopen_window == timedelta(0)


def test_reopen_window_zero_as_yaml_string(rules: Path, runbooks: Path) -> None:
    write(
        rules,
        "10-a.yaml",
        "rules:\n" + rule_yaml("a", "reopen_window: '0'") + rule_yaml("b", "reopen_window: 0m"),
    )
    assert [r.reopen_window for r in load_catalog(rules, runbooks).ruleset.rules] == [timedelta(0)] * 2


def test_out_of_range_reopen_window_is_a_problem(rules: Path, runbooks: Path) -> None:
    path = write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a", "reopen_window: 9999999999w"))
    problem = only_problem(rules, runbooks)
    assert_problem(problem, f"{path}:2: rule 'a': reopen_window: ", "duration '9999999999w' is too long")


def test_repeated_rules_section_in_one_file_is_a_problem(rules: Path, runbooks: Path) -> None:
    path = write(
        rules, "10-a.yaml", "rules:\n" + rule_yaml("first") + "rules:\n" + rule_yaml("second", alertname="B")
    )
    assert problems_of(rules, runbooks) == [f"{path}:6:1: YAML syntax error: key 'rules' appears twice"]


# Risk tiers from the model registry

REGISTRY = """\
models:
  - {id: credit-scorer, tier: staging, risk_tier: high}
  - {id: chatbot, tier: staging, risk_tier: limited}
  - {id: sandbox-ranker, tier: experimental}
"""


def fairness_severity(rules_dir: Path, runbooks_dir: Path) -> dict[str, str]:
    """The severity of a fairness alert (EXAMPLE's low x high rule) for each registered model."""
    ruleset = load_catalog(rules_dir, runbooks_dir).ruleset
    models = ("credit-scorer", "chatbot", "sandbox-ranker", "not-registered")
    return {m: ruleset.classify({"alertname": "FairnessViolation", "model": m}).severity for m in models}


def test_the_loader_hands_the_registry_risk_tiers_to_the_rules(rules: Path, runbooks: Path) -> None:
    write(rules, "40-responsible-ai.yaml", EXAMPLE)
    write(rules, "oncall.yaml", REGISTRY)

    catalog = load_catalog(rules, runbooks)

    assert catalog.ruleset.risk_tiers == {
        "credit-scorer": "high",
        "chatbot": "limited",
        "sandbox-ranker": "minimal",
    }
    # Without a harm_by_risk_tier section, a high-risk model weighs one harm level more.
    assert fairness_severity(rules, runbooks) == {
        "credit-scorer": "SEV1",
        "chatbot": "SEV2",
        "sandbox-ranker": "SEV2",
        "not-registered": "SEV2",
    }


def test_harm_by_risk_tier_section_sets_steps_and_floors(rules: Path, runbooks: Path) -> None:
    write(rules, "00-tiers.yaml", "harm_by_risk_tier: {high: +1, limited: critical}\n")
    write(rules, "40-responsible-ai.yaml", EXAMPLE)
    write(rules, "oncall.yaml", REGISTRY)

    severities = fairness_severity(rules, runbooks)

    assert severities == {
        "credit-scorer": "SEV1",
        "chatbot": "SEV1",
        "sandbox-ranker": "SEV2",
        "not-registered": "SEV2",
    }
    # A fixed severity is what the rule says, whatever the tier.
    accuracy = load_catalog(rules, runbooks).ruleset.classify(
        {"alertname": "ModelAccuracyDrop", "model": "credit-scorer"}
    )
    assert accuracy.severity == "SEV2"


@pytest.mark.parametrize(
    "section", ["harm_by_risk_tier: {}\n", "harm_by_risk_tier:\n", "harm_by_risk_tier: {high: 0}\n"]
)
def test_an_empty_or_zero_harm_by_risk_tier_raises_nothing(rules: Path, runbooks: Path, section: str) -> None:
    write(rules, "00-tiers.yaml", section)
    write(rules, "40-responsible-ai.yaml", EXAMPLE)
    write(rules, "oncall.yaml", REGISTRY)

    assert set(fairness_severity(rules, runbooks).values()) == {"SEV2"}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "{extreme: 1}",
            ["harm_by_risk_tier: unknown risk tier 'extreme' (known: high, limited, minimal)"],
        ),
        *[
            (
                f"{{high: {value}}}",
                [
                    f"harm_by_risk_tier: high: {shown} is neither a number of harm levels to add (0-3)"
                    " nor a harm level to raise to (low, medium, high, critical)"
                ],
            )
            for value, shown in [
                ("4", "4"),
                ("-1", "-1"),
                ("severe", "'severe'"),
                ("true", "True"),
                ("'1'", "'1'"),
                ("1.5", "1.5"),
                ("[high]", "['high']"),
            ]
        ],
        ("[high, 1]", ["harm_by_risk_tier: must be a mapping such as {high: 1}"]),
        (
            "{High: 1, limited: huge}",
            [
                "harm_by_risk_tier: unknown risk tier 'High' (known: high, limited, minimal)",
                "harm_by_risk_tier: limited: 'huge' is neither a number of harm levels to add (0-3)"
                " nor a harm level to raise to (low, medium, high, critical)",
            ],
        ),
    ],
)
def test_invalid_harm_by_risk_tier(rules: Path, runbooks: Path, section: str, expected: list[str]) -> None:
    path = write(rules, "00-tiers.yaml", f"harm_by_risk_tier: {section}\n")

    problems = problems_of(rules, runbooks)

    assert problems == [f"{path}: {problem}" for problem in expected]


def test_harm_by_risk_tier_in_two_files(rules: Path, runbooks: Path) -> None:
    first = write(rules, "00-tiers.yaml", "harm_by_risk_tier: {high: 1}\n")
    second = write(rules, "10-tiers.yaml", "harm_by_risk_tier: {high: 2}\n")
    problem = only_problem(rules, runbooks)
    assert problem == f"{second}: section 'harm_by_risk_tier' is already set in {first}"


def test_required_labels_are_loaded(rules: Path, runbooks: Path) -> None:
    write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a", "required_labels: [model, group]"))

    ruleset = load_catalog(rules, runbooks).ruleset

    assert ruleset.rules[0].required_labels == ("model", "group")
    assert ruleset.classify({"alertname": "A", "group": "age"}).missing_labels == ("model",)


# The shipped rules


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return load_catalog(ROOT / "rules", ROOT / "runbooks")


def test_shipped_rules_load_without_problems(shipped: Catalog) -> None:
    assert shipped.ruleset.rules
    assert len(shipped.files) == len(list((ROOT / "rules").glob("*.yaml")))
    names = [r.name for r in shipped.ruleset.rules]
    assert len(names) == len(set(names))


def test_every_shipped_rule_has_an_existing_runbook(shipped: Catalog) -> None:
    for rule in shipped.ruleset.rules:
        assert rule.runbook is not None, rule.name
        assert rule.runbook in shipped.runbooks, rule.name
        assert shipped.runbooks[rule.runbook].containment, rule.runbook


def test_shipped_rule_sources_point_at_the_rule(shipped: Catalog) -> None:
    for rule in shipped.ruleset.rules:
        file, line = rule.source.rsplit(":", 1)
        text = Path(file).read_text(encoding="utf-8").splitlines()[int(line) - 1]
        assert text.strip() == f"- name: {rule.name}", rule.source


# CLI


def _write_bad_rules(rules: Path) -> list[str]:
    write(rules, "10-a.yaml", "rules:\n" + rule_yaml("a", "severity: SEV0") + rule_yaml("b", "runbook: gone"))
    write(rules, "20-b.yaml", "unknown_section: 1\n")
    return ["rule 'a'", "unknown runbook 'gone'", "unknown top-level section 'unknown_section'"]


def test_check_rules_ok(rules: Path, runbooks: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(rules, "40-responsible-ai.yaml", EXAMPLE)

    code = main(["check-rules", str(rules), "--runbooks", str(runbooks)])

    out, err = capsys.readouterr()
    assert code == 0
    assert out.startswith("ok")
    assert "2 rules in 1 files, 1 runbooks" in out
    assert err == ""


def test_check_rules_reports_every_problem(
    rules: Path, runbooks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = _write_bad_rules(rules)

    code = main(["check-rules", str(rules), "--runbooks", str(runbooks)])

    out, err = capsys.readouterr()
    assert code == 1
    assert "ok" not in out
    lines = err.splitlines()
    for needle in expected:
        assert any(needle in line for line in lines), (needle, err)
    assert lines[-1] == "3 problem(s) found"
    with pytest.raises(ConfigError) as excinfo:
        load_catalog(rules, runbooks)
    assert lines[:-1] == excinfo.value.problems


def test_check_rules_on_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check-rules", str(ROOT / "rules"), "--runbooks", str(ROOT / "runbooks")])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.startswith("ok: ")


def test_console_script_fails_on_bad_rules(rules: Path, runbooks: Path, tmp_path: Path) -> None:
    _write_bad_rules(rules)
    script = Path(sys.executable).parent / "incident-bridge"
    if not script.exists():
        script = ROOT / ".venv" / "bin" / "incident-bridge"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}

    result = subprocess.run(
        [str(script), "check-rules", str(rules), "--runbooks", str(runbooks)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        check=False,
    )

    assert result.returncode != 0
    assert "unknown runbook 'gone'" in result.stderr
    assert "3 problem(s) found" in result.stderr


def test_one_matchers_entry_may_hold_several_matchers_as_in_alertmanager(rules: Path, runbooks: Path) -> None:
    write(
        rules,
        "10.yaml",
        """\
        rules:
          - name: both
            matchers: ['{alertname="A", model=~"fraud.*"}', 'team="risk"']
            type: technical_failure
            severity: SEV3
        """,
    )
    rule = load_catalog(rules, runbooks).ruleset.rules[0]
    assert [str(m) for m in rule.matchers] == ['alertname="A"', 'model=~"fraud.*"', 'team="risk"']
    assert rule.matches({"alertname": "A", "model": "fraud-scorer", "team": "risk"})
    assert not rule.matches({"alertname": "A", "model": "churn", "team": "risk"})

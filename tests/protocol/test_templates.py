"""Notice templates: shipped, overridden from the rules directory, checked at load, sandboxed."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError

from app.catalog.loader import ConfigError, load_catalog
from app.protocol import templates as templates_module
from app.protocol.templates import MAX_TEMPLATE_BYTES, SAMPLE_FACTS, SHIPPED, Templates, load_templates

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
SHIPPED_NAMES = {
    "affected-users",
    "affected-users-holding",
    "dpo",
    "legal",
    "ml-lead",
    "regulator",
    "responsible-ai",
    "stakeholders-update",
    "support",
}


def write_template(rules: Path, name: str, text: str) -> Path:
    path = rules / "templates" / f"{name}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def loaded(rules: Path) -> tuple[Templates, list[str]]:
    problems: list[str] = []
    return load_templates(rules, problems), problems


def test_the_shipped_templates_load_without_problems(tmp_path: Path) -> None:
    templates, problems = loaded(tmp_path)
    assert problems == []
    assert set(templates.sources) >= SHIPPED_NAMES
    assert templates.origins["legal"] == str(SHIPPED / "legal.txt")


@pytest.mark.parametrize("name", sorted(SHIPPED_NAMES))
def test_each_shipped_template_renders_the_sample_facts(tmp_path: Path, name: str) -> None:
    templates, _ = loaded(tmp_path)
    text = templates.render(name, SAMPLE_FACTS)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert text == text.lstrip()
    assert "42" in text  # the incident's reference
    assert "None" not in text


def test_templates_are_compiled_when_loaded_not_at_the_first_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_template(tmp_path, "custom", "Hello {{ audience.name }}")
    templates, problems = loaded(tmp_path)
    assert problems == []

    def no_compiling(_source: str) -> Any:
        raise AssertionError("compiled at render time")

    monkeypatch.setattr(templates_module._ENVIRONMENT, "from_string", no_compiling)
    assert templates.render("custom", {"audience": {"name": "Legal"}}) == "Hello Legal\n"
    assert templates.render("ml-lead", SAMPLE_FACTS).startswith("[SEV2]")


def test_a_rules_directory_template_overrides_a_shipped_one_and_adds_new_ones(tmp_path: Path) -> None:
    legal = write_template(tmp_path, "legal", "\n  Custom legal notice for #{{ incident.id }}\n\n")
    press = write_template(tmp_path, "press", "Press: {{ model.id }}")
    templates, problems = loaded(tmp_path)
    assert problems == []
    assert templates.render("legal", SAMPLE_FACTS) == "Custom legal notice for #42\n"
    assert templates.origins["legal"] == str(legal)
    assert templates.render("press", SAMPLE_FACTS) == "Press: credit-scorer\n"
    assert templates.origins["press"] == str(press)
    assert templates.origins["ml-lead"] == str(SHIPPED / "ml-lead.txt")
    assert set(templates.sources) == SHIPPED_NAMES | {"press"}


def test_only_txt_files_are_templates(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "legal.md").write_text("{{ broken", encoding="utf-8")
    templates, problems = loaded(tmp_path)
    assert problems == []
    assert "legal.md" not in templates.sources
    assert templates.origins["legal"] == str(SHIPPED / "legal.txt")


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = write_template(tmp_path, "legal", "Line one\nLine two {{ incident.id }\nLine three\n")
    _, problems = loaded(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:2: template syntax error: ")


def test_an_unknown_fact_is_a_problem_at_load(tmp_path: Path) -> None:
    path = write_template(tmp_path, "press", "Hello {{ incident.nope }}")
    _, problems = loaded(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: template error: ")
    assert "nope" in problems[0]


def test_an_unknown_top_level_name_is_a_problem_at_load(tmp_path: Path) -> None:
    write_template(tmp_path, "press", "Hello {{ incidnet.id }}")
    _, problems = loaded(tmp_path)
    assert len(problems) == 1 and "incidnet" in problems[0], problems


def test_a_template_too_large_is_refused(tmp_path: Path) -> None:
    path = write_template(tmp_path, "press", "x" * (MAX_TEMPLATE_BYTES + 1))
    templates, problems = loaded(tmp_path)
    assert problems == [f"{path}: template is larger than {MAX_TEMPLATE_BYTES} bytes"]
    assert "press" not in templates.sources


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.system('touch {marker}') }}",
    "{{ incident.__class__.__init__.__globals__['__builtins__']['open']('{marker}', 'w') }}",
    "{% set x = namespace.__init__.__globals__ %}{{ x }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_a_sandbox_escape_is_refused_at_load_and_never_runs(tmp_path: Path, source: str) -> None:
    marker = tmp_path / "escaped"
    text = source.replace("{marker}", str(marker))
    path = write_template(tmp_path, "press", text)
    templates, problems = loaded(tmp_path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: template error: ")
    assert "unsafe" in problems[0]
    with pytest.raises(SecurityError):
        templates.render("press", SAMPLE_FACTS)
    assert not marker.exists()


def test_render_of_an_unknown_template_raises_key_error() -> None:
    with pytest.raises(KeyError, match="press"):
        Templates().render("press", SAMPLE_FACTS)


@pytest.mark.parametrize(
    "source",
    ["{{ 1 // 0 }}", "{{ incident.id + 'x' }}", "{% for i in range(10 ** 7) %}{% endfor %}"],
)
def test_a_template_failing_at_runtime_is_a_problem_naming_the_file(tmp_path: Path, source: str) -> None:
    path = write_template(tmp_path, "press", source)
    _, problems = loaded(tmp_path)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: "), problems


# --- Through the catalog: the communications section and the templates it names. ---------------

ONCALL = """\
people:
  - id: maria
    contact:
      - {type: email, address: maria@example.org}
teams:
  - id: ml-platform
"""


def rules_dir(tmp_path: Path, communications: str) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "oncall.yaml").write_text(ONCALL, encoding="utf-8")
    (rules / "communications.yaml").write_text(communications, encoding="utf-8")
    return rules


def problems_of(rules: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_catalog(rules, RUNBOOKS)
    return caught.value.problems


MISSING_TEMPLATE = """\
communications:
  audiences:
    board: {people: [maria]}
    support: {teams: [ml-platform]}
  policies:
    - name: fairness
      notify:
        - {audience: board, template: press-release}
        - {audience: support}
"""


def test_a_communications_section_naming_a_missing_template_is_refused(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, MISSING_TEMPLATE)
    problems = problems_of(rules)
    assert len(problems) == 1, problems
    assert "communications: template 'press-release' not found" in problems[0]
    assert str(rules / "templates" / "press-release.txt") in problems[0]


def test_an_audience_without_a_template_of_its_name_is_refused(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, MISSING_TEMPLATE.replace(", template: press-release", ""))
    problems = problems_of(rules)
    assert len(problems) == 1 and "template 'board' not found" in problems[0], problems


def test_the_catalog_loads_once_the_templates_exist(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, MISSING_TEMPLATE)
    write_template(rules, "press-release", "Press release about {{ model.id }}")
    catalog = load_catalog(rules, RUNBOOKS)
    assert catalog.communications.templates_used() == {"press-release", "support"}
    assert catalog.templates.render("press-release", SAMPLE_FACTS) == "Press release about credit-scorer\n"


BROKEN = """\
communications:
  audiences:
    board: {people: [maria, zoe], teams: [legal]}
    regulator: {channel: portal}
  policies:
    - name: fairness
      notify:
        - {audience: regulator, approval: false}
        - {audience: nobody}
        - {audience: board, template: press-release}
    - name: fairness
      notify:
        - {audience: board, holding: {template: board-holding, within: 1h}}
"""


def test_a_broken_communications_section_reports_every_problem_at_once(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, BROKEN)
    write_template(rules, "board", "{{ incident.id }")
    problems = problems_of(rules)
    where = f"{rules / 'communications.yaml'}:1: communications: "
    expected_at_line = [
        "audience 'board': unknown person 'zoe'",
        "audience 'board': unknown team 'legal'",
        "notice to 'regulator' is outside the organisation",
        "policy 'fairness': unknown audience 'nobody'",
        "a holding statement only serves a notice that waits for approval",
        "policy 'fairness' is defined twice",
    ]
    for needle in expected_at_line:
        assert any(p.startswith(where) and needle in p for p in problems), (needle, problems)
    assert any(
        p.startswith(f"{rules / 'templates' / 'board.txt'}:1: template syntax error") for p in problems
    )
    for name in ["press-release", "board-holding"]:
        assert any(f"template {name!r} not found" in p for p in problems), (name, problems)
    assert len(problems) == len(expected_at_line) + 3, problems


# --- The notice to affected people speaks plainly, whatever is (not yet) known. ----------------

NOT_ASSESSED: dict[str, Any] = {
    "assessed": False,
    "level": "",
    "level_words": "not yet assessed",
    "domains": [],
    "domain_words": "",
    "affected_groups": [],
    "persons_affected": None,
    "personal_data_breach": False,
    "death": False,
    "widespread": False,
    "member_states": [],
    "causal_link": "",
    "aware_at": "",
}

INCIDENT_TYPES = ["technical_failure", "performance_degradation", "fairness_violation", "safety", "ethical"]


def plain_facts(incident_type: str, decisions: str | None, contained: bool, contact: str) -> dict[str, Any]:
    facts = copy.deepcopy(SAMPLE_FACTS)
    facts["harm"] = copy.deepcopy(NOT_ASSESSED)
    facts["model"]["decisions"] = decisions
    facts["incident"].update(
        type=incident_type,
        type_words=incident_type.replace("_", " "),
        severity="SEV1",
        contained=contained,
        contained_at="2026-11-30 09:10 UTC" if contained else "",
    )
    facts["contact"] = contact
    facts["decisions"] = []
    return facts


@pytest.mark.parametrize("name", ["affected-users", "affected-users-holding"])
@pytest.mark.parametrize("incident_type", INCIDENT_TYPES)
@pytest.mark.parametrize("decisions", ["", None])
@pytest.mark.parametrize("contained", [False, True])
@pytest.mark.parametrize("contact", ["", "the model risk desk, ai-incidents@example.org"])
def test_the_notice_to_affected_people_has_no_jargon(
    tmp_path: Path, name: str, incident_type: str, decisions: str | None, contained: bool, contact: str
) -> None:
    templates, _ = loaded(tmp_path)
    text = templates.render(name, plain_facts(incident_type, decisions, contained, contact))
    for jargon in ["SEV", incident_type if "_" in incident_type else "fairness_violation", "http", "None"]:
        assert jargon not in text, (jargon, text)
    assert "credit-scorer" not in text  # no model ids either
    assert "helps us decide" not in text  # no dangling clause for a model without decisions
    assert "reference 42" in text


def test_the_notice_to_affected_people_says_who_is_affected_only_once_assessed(tmp_path: Path) -> None:
    templates, _ = loaded(tmp_path)
    unassessed = templates.render("affected-users", plain_facts("fairness_violation", "", True, ""))
    assert "We are still finding out exactly who was affected" in unassessed
    assessed = templates.render("affected-users", SAMPLE_FACTS)
    assert "mainly applicants over 60; about 1200 people in total" in assessed
    assert "which helps us decide whether a loan application is approved" in assessed

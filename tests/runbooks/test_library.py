"""The runbook library: front matter, sections, containment steps, and the shipped runbooks."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from app.rules.engine import INCIDENT_TYPES
from app.runbooks.library import Runbook, RunbookError, load_library, parse_runbook

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "runbooks").glob("*.md"))
REQUIRED_SECTIONS = ["containment", "diagnosis", "recovery", "communication", "post-incident"]

# Verbs a paged engineer can act on straight away. Vague openers ("investigate", "monitor",
# "consider", "assess") are deliberately absent: the first containment step must be a concrete action.
ACTION_VERBS = {
    "block",
    "check",
    "disable",
    "fall",
    "freeze",
    "pause",
    "read",
    "revoke",
    "roll",
    "route",
    "scale",
    "serve",
    "shed",
    "stop",
    "suspend",
    "switch",
    "turn",
}


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def is_concrete_action(step: str) -> bool:
    """An imperative action verb, either first or right after a leading `If ...,` condition."""
    words = re.findall(r"[A-Za-z]+", step)
    if words and words[0].lower() in ACTION_VERBS:
        return True
    if words and words[0] == "If":
        return any(m.group(1).lower() in ACTION_VERBS for m in re.finditer(r",\s+([A-Za-z]+)", step))
    return False


# parse_runbook


def test_minimal_runbook(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "anything.md",
        """\
        ---
        id: model-performance-degradation
        title: Model performance degradation
        ---
        ## Containment
        1. Roll back
        """,
    )

    runbook = parse_runbook(path)

    assert isinstance(runbook, Runbook)
    assert runbook.id == "model-performance-degradation"
    assert runbook.title == "Model performance degradation"
    assert runbook.path == path
    assert runbook.containment == ["Roll back"]
    assert runbook.types == ()
    assert runbook.body == "## Containment\n1. Roll back\n"


def test_containment_steps_come_from_the_containment_section_only(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.md",
        """\
        ---
        id: r
        title: "  A runbook  "
        types: [safety, ethical]
        ---

        # A runbook

        Intro text, not a step.
        1. Not a step either: this list comes before the section.

        ## Containment

        Do these in order:

        1. Roll back the model.
        2) Route decisions to human review.
        - Pause retraining.
        * Preserve evidence.
           10. Indented steps count too.

        Some closing prose.

        ### A subsection stays inside Containment
        - Disable the integration.

        ## Diagnosis

        1. Query the metrics.
        """,
    )

    runbook = parse_runbook(path)

    assert runbook.title == "A runbook"
    assert runbook.types == ("safety", "ethical")
    assert runbook.containment == [
        "Roll back the model.",
        "Route decisions to human review.",
        "Pause retraining.",
        "Preserve evidence.",
        "Indented steps count too.",
        "Disable the integration.",
    ]
    assert list(runbook.sections) == ["containment", "diagnosis"]
    assert runbook.sections["diagnosis"] == "1. Query the metrics."


@pytest.mark.parametrize(
    "line",
    ["1.Roll back", "-Roll back", "Roll back", "1 Roll back", "a. Roll back", "+ Roll back"],
)
def test_lines_that_are_not_list_items_are_not_steps(tmp_path: Path, line: str) -> None:
    path = write(tmp_path, "r.md", f"---\nid: r\ntitle: R\n---\n## Containment\n{line}\n1. Real step\n")
    assert parse_runbook(path).containment == ["Real step"]


def test_runbook_without_containment_has_no_steps(tmp_path: Path) -> None:
    path = write(tmp_path, "r.md", "---\nid: r\ntitle: R\n---\n## Diagnosis\n1. Look\n")
    assert parse_runbook(path).containment == []


def test_section_names_are_lowercased_and_stripped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r.md",
        "---\nid: r\ntitle: R\n---\n##   CONTAINMENT  \n- Stop it\n## Post-incident\nReview.\n",
    )
    runbook = parse_runbook(path)
    assert list(runbook.sections) == ["containment", "post-incident"]
    assert runbook.containment == ["Stop it"]
    assert runbook.sections["post-incident"] == "Review."


def test_id_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, "feature-drift.md", "---\ntitle: Feature drift\n---\n")
    assert parse_runbook(path).id == "feature-drift"


@pytest.mark.parametrize(
    "text",
    [
        "## Containment\n1. Roll back\n",
        "\n---\nid: r\ntitle: R\n---\n",
        "---\nid: r\ntitle: R\n",
        "id: r\ntitle: R\n---\n",
        "",
    ],
)
def test_missing_front_matter(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "r.md", text)
    with pytest.raises(RunbookError) as excinfo:
        parse_runbook(path)
    assert str(excinfo.value) == f"{path}: missing front matter (--- id, title ---)"


@pytest.mark.parametrize(
    ("front_matter", "expected"),
    [
        ("id: r", "front matter needs a title"),
        ("id: r\ntitle: ''", "front matter needs a title"),
        ("id: r\ntitle: '   '", "front matter needs a title"),
        ("id: r\ntitle: [a, b]", "front matter needs a title"),
        ("id: r\ntitle: 42", "front matter needs a title"),
        ("- id\n- title", "front matter must be a mapping"),
        ("id: [unclosed", "front matter is not valid YAML"),
        ("id: Bad_ID\ntitle: T", "invalid id 'Bad_ID'"),
        ("id: has space\ntitle: T", "invalid id 'has space'"),
        ("id: -leading-dash\ntitle: T", "invalid id '-leading-dash'"),
        ("id: ../escape\ntitle: T", "invalid id '../escape'"),
    ],
)
def test_invalid_front_matter(tmp_path: Path, front_matter: str, expected: str) -> None:
    path = write(tmp_path, "r.md", f"---\n{front_matter}\n---\n## Containment\n1. Roll back\n")
    with pytest.raises(RunbookError) as excinfo:
        parse_runbook(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_invalid_file_name_is_an_invalid_id_when_no_id_is_given(tmp_path: Path) -> None:
    path = write(tmp_path, "Feature Drift.md", "---\ntitle: Feature drift\n---\n")
    with pytest.raises(RunbookError, match="invalid id 'Feature Drift'"):
        parse_runbook(path)


def test_scalar_types_is_not_split_into_characters(tmp_path: Path) -> None:
    # A single type written as a scalar is that one type (library.py wraps a string in a list).
    path = write(tmp_path, "r.md", "---\nid: r\ntitle: R\ntypes: safety\n---\n")
    runbook = parse_runbook(path)
    assert runbook.types == ("safety",)


def test_non_list_types_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "good.md", "---\nid: good\ntitle: Good\n---\n")
    bad = write(tmp_path, "r.md", "---\nid: r\ntitle: R\ntypes: 3\n---\n")
    runbooks, problems = load_library(tmp_path)
    assert list(runbooks) == ["good"]
    assert len(problems) == 1
    assert problems[0].startswith(str(bad))


# load_library


def test_load_library_reads_every_markdown_file(tmp_path: Path) -> None:
    write(tmp_path, "b.md", "---\nid: beta\ntitle: Beta\n---\n")
    write(tmp_path, "a.md", "---\nid: alpha\ntitle: Alpha\n---\n")
    write(tmp_path, "notes.txt", "not a runbook")
    write(tmp_path, "README", "---\nid: readme\ntitle: Readme\n---\n")

    runbooks, problems = load_library(tmp_path)

    assert problems == []
    assert list(runbooks) == ["alpha", "beta"]
    assert runbooks["beta"].title == "Beta"


def test_duplicate_ids_keep_the_first_file_and_report_the_second(tmp_path: Path) -> None:
    first = write(tmp_path, "a.md", "---\nid: same\ntitle: First\n---\n")
    second = write(tmp_path, "b.md", "---\nid: same\ntitle: Second\n---\n")

    runbooks, problems = load_library(tmp_path)

    assert problems == [f"{second}: duplicate runbook id 'same'"]
    assert runbooks["same"].path == first
    assert runbooks["same"].title == "First"


def test_an_id_given_in_one_file_clashes_with_another_file_name(tmp_path: Path) -> None:
    write(tmp_path, "feature-drift.md", "---\ntitle: From the file name\n---\n")
    second = write(tmp_path, "x.md", "---\nid: feature-drift\ntitle: From front matter\n---\n")

    runbooks, problems = load_library(tmp_path)

    assert problems == [f"{second}: duplicate runbook id 'feature-drift'"]
    assert runbooks["feature-drift"].title == "From the file name"


def test_every_broken_file_is_reported_and_good_ones_still_load(tmp_path: Path) -> None:
    no_front = write(tmp_path, "a.md", "# no front matter\n")
    write(tmp_path, "b.md", "---\nid: good\ntitle: Good\n---\n")
    no_title = write(tmp_path, "c.md", "---\nid: c\n---\n")
    bad_id = write(tmp_path, "d.md", "---\nid: D D\ntitle: D\n---\n")
    (tmp_path / "e.md").write_bytes(b"---\nid: e\ntitle: \xff\xfe\n---\n")

    runbooks, problems = load_library(tmp_path)

    assert list(runbooks) == ["good"]
    assert len(problems) == 4
    assert problems[0].startswith(f"{no_front}: missing front matter")
    assert problems[1] == f"{no_title}: front matter needs a title"
    assert problems[2] == f"{bad_id}: invalid id 'D D'"
    assert "utf-8" in problems[3]


def test_undecodable_file_problem_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_bytes(b"---\nid: r\ntitle: \xff\xfe\n---\n")
    _, problems = load_library(tmp_path)
    assert len(problems) == 1
    assert str(path) in problems[0]


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert load_library(missing) == ({}, [f"{missing}: runbooks directory not found"])


# The shipped runbooks


def test_shipped_runbooks_exist() -> None:
    assert len(SHIPPED) >= 10


def test_shipped_library_loads_without_problems() -> None:
    runbooks, problems = load_library(ROOT / "runbooks")
    assert problems == []
    assert sorted(runbooks) == sorted(p.stem for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_runbook(path: Path) -> None:
    runbook = parse_runbook(path)

    assert runbook.id == path.stem
    assert runbook.title
    assert runbook.types
    assert set(runbook.types) <= set(INCIDENT_TYPES)

    present = [name for name in runbook.sections if name in REQUIRED_SECTIONS]
    assert present == REQUIRED_SECTIONS
    assert next(iter(runbook.sections)) == "containment"
    for name in REQUIRED_SECTIONS:
        assert runbook.sections[name].strip(), name

    steps = runbook.containment
    assert steps
    assert all(len(step) >= 15 for step in steps)
    assert is_concrete_action(steps[0]), steps[0]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("Roll back to the last good version.", True),
        ("Check the deploy log; if a release went out, roll it back.", True),
        ("If a new model version went out recently, roll it back.", True),
        ("If errors come from one zone, drain it.", False),
        ("Investigate the cause.", False),
        ("Monitor the dashboards and roll back if needed.", False),
        ("Consider whether to stop the model.", False),
        ("", False),
    ],
)
def test_concrete_action_check(step: str, expected: bool) -> None:
    assert is_concrete_action(step) is expected

"""The runbook library: front matter, sections and containment steps read from markdown-it's
token stream, the revision of a file, and loading a directory."""

from __future__ import annotations

import hashlib
import textwrap
from datetime import date
from pathlib import Path

import pytest

from app.runbooks.library import KNOWN_TYPES, Runbook, RunbookError, load_library, parse_runbook
from app.vocabulary import INCIDENT_TYPES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "runbooks").glob("*.md"))


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def runbook(tmp_path: Path, body: str, front: str = "id: r\ntitle: R") -> Runbook:
    return parse_runbook(write(tmp_path, "r.md", f"---\n{front}\n---\n{textwrap.dedent(body)}"))


# --- parse_runbook: the body ---------------------------------------------------------------------


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

    book = parse_runbook(path)

    assert isinstance(book, Runbook)
    assert book.id == "model-performance-degradation"
    assert book.title == "Model performance degradation"
    assert book.path == path
    assert book.containment == ["Roll back"]
    assert book.types == ()
    assert (book.models, book.owner, book.last_reviewed) == ((), None, None)
    assert book.body == "## Containment\n1. Roll back\n"


def test_containment_steps_are_the_top_level_items_of_the_containment_section(tmp_path: Path) -> None:
    book = runbook(
        tmp_path,
        """\

        # A runbook

        Intro text, not a step.
        1. Not a step either: this list comes before the section.

        ## Containment

        Do these in order:

        1. Roll back the model.
        2. Route decisions to human review.
           - a sub-step is part of its step's detail, not a step
        3. Pause retraining.

        Some closing prose.

        ### A subsection stays inside Containment
        - Disable the integration.

        > - A quoted list is not a step.

        ## Diagnosis

        1. Query the metrics.
        """,
        front="id: r\ntitle: '  A runbook  '\ntypes: [safety, ethical]",
    )

    assert book.title == "A runbook"
    assert book.types == ("safety", "ethical")
    assert book.containment == [
        "Roll back the model.",
        "Route decisions to human review.",
        "Pause retraining.",
        "Disable the integration.",
    ]
    assert list(book.sections) == ["containment", "diagnosis"]
    assert book.sections["diagnosis"] == "1. Query the metrics."


def test_a_list_item_wrapped_over_lines_is_one_step(tmp_path: Path) -> None:
    book = runbook(
        tmp_path,
        """\
        ## Containment
        1. Roll back to the last model version
           with good online metrics.
        2. Route low-confidence predictions
        to human review (a lazy continuation line).
        3. Pause retraining.

           A second paragraph of the step belongs to it too.
        """,
    )
    assert book.containment == [
        "Roll back to the last model version with good online metrics.",
        "Route low-confidence predictions to human review (a lazy continuation line).",
        "Pause retraining. A second paragraph of the step belongs to it too.",
    ]


def test_a_step_keeps_its_inline_markdown(tmp_path: Path) -> None:
    book = runbook(
        tmp_path,
        "## Containment\n- Run `kubectl rollout undo deploy/<model>`, then see [the dashboard](https://g.example/d).\n",
    )
    assert book.containment == [
        "Run `kubectl rollout undo deploy/<model>`, then see [the dashboard](https://g.example/d)."
    ]


def test_list_lines_inside_a_code_fence_are_not_steps(tmp_path: Path) -> None:
    book = runbook(
        tmp_path,
        """\
        ## Containment
        1. Scale out the server:
           ```sh
           - not a step: this line is shell
           kubectl scale deploy/x --replicas=6
           ```
        ```yaml
        - name: also-not-a-step
        ```
        2. Shed batch traffic.
        """,
    )
    assert book.containment == ["Scale out the server:", "Shed batch traffic."]


def test_a_heading_inside_a_code_fence_is_not_a_section(tmp_path: Path) -> None:
    book = runbook(
        tmp_path,
        """\
        ## Containment
        - Stop the job.

        ```markdown
        ## Diagnosis
        - not a section, not a step
        ```

        - Preserve evidence.
        ## Recovery
        Redeploy.
        """,
    )
    assert list(book.sections) == ["containment", "recovery"]
    assert book.containment == ["Stop the job.", "Preserve evidence."]
    assert "## Diagnosis" in book.sections["containment"]


def test_indented_code_is_not_a_section_either(tmp_path: Path) -> None:
    book = runbook(tmp_path, "## Containment\nRun:\n\n    ## Not a heading\n    - nor a step\n\n- Stop it.\n")
    assert list(book.sections) == ["containment"]
    assert book.containment == ["Stop it."]


def test_a_heading_or_code_inside_a_step_is_not_part_of_its_text(tmp_path: Path) -> None:
    book = runbook(tmp_path, "## Containment\n- Stop it.\n\n  ### Why\n\n      code\n- Then this.\n")
    assert list(book.sections) == ["containment"]
    assert book.containment == ["Stop it.", "Then this."]


@pytest.mark.parametrize(
    ("line", "steps"),
    [
        ("1.Roll back", ["Real step"]),
        ("-Roll back", ["Real step"]),
        ("Roll back", ["Real step"]),
        ("1 Roll back", ["Real step"]),
        ("a. Roll back", ["Real step"]),
        ("+ Roll back", ["Roll back", "Real step"]),  # `+` is a CommonMark bullet
        ("* Roll back", ["Roll back", "Real step"]),
        ("2) Roll back", ["Roll back", "Real step"]),
    ],
)
def test_what_commonmark_calls_a_list_item_is_a_step(tmp_path: Path, line: str, steps: list[str]) -> None:
    book = runbook(tmp_path, f"## Containment\n{line}\n\n1. Real step\n")
    assert book.containment == steps


def test_runbook_without_containment_has_no_steps(tmp_path: Path) -> None:
    assert runbook(tmp_path, "## Diagnosis\n1. Look\n").containment == []


def test_section_names_are_the_heading_words_lowercased(tmp_path: Path) -> None:
    book = runbook(
        tmp_path, "##   CONTAINMENT  \n- Stop it\n## *Post-incident*\nReview.\n### Details\nMore.\n"
    )
    assert list(book.sections) == ["containment", "post-incident"]
    assert book.containment == ["Stop it"]
    assert book.sections["post-incident"] == "Review.\n### Details\nMore."


def test_a_setext_heading_is_a_section_and_an_h1_is_not(tmp_path: Path) -> None:
    book = runbook(tmp_path, "# Title\n\nContainment\n-----------\n- Stop it\n\nRecovery\n===\n")
    assert list(book.sections) == ["containment"]
    assert book.containment == ["Stop it"]


def test_a_repeated_section_keeps_the_first(tmp_path: Path) -> None:
    book = runbook(tmp_path, "## Containment\n- First\n## Containment\n- Second\n")
    assert book.containment == ["First"]
    assert book.sections["containment"] == "- First"


def test_windows_line_endings_read_the_same(tmp_path: Path) -> None:
    path = tmp_path / "r.md"
    path.write_bytes(b"---\r\nid: r\r\ntitle: R\r\n---\r\n## Containment\r\n1. Roll back\r\n   the model\r\n")
    book = parse_runbook(path)
    assert book.containment == ["Roll back the model"]
    assert book.body == "## Containment\n1. Roll back\n   the model\n"


# --- parse_runbook: front matter -----------------------------------------------------------------


def test_the_full_front_matter(tmp_path: Path) -> None:
    book = runbook(
        tmp_path,
        "",
        front=(
            "id: fraud-drift\ntitle: Fraud scorer drift\ntypes: [performance_degradation, unclassified]\n"
            "models: [fraud-scorer, fraud-scorer-v2]\nowner: risk-ml\nlast_reviewed: 2026-03-01"
        ),
    )
    assert book.types == ("performance_degradation", "unclassified")
    assert book.models == ("fraud-scorer", "fraud-scorer-v2")
    assert book.owner == "risk-ml"
    assert book.last_reviewed == date(2026, 3, 1)


def test_a_quoted_date_and_a_single_model_are_accepted(tmp_path: Path) -> None:
    book = runbook(tmp_path, "", front="id: r\ntitle: R\nmodels: fraud-scorer\nlast_reviewed: '2025-12-31'")
    assert book.models == ("fraud-scorer",)
    assert book.last_reviewed == date(2025, 12, 31)


def test_every_known_type_is_accepted(tmp_path: Path) -> None:
    assert set(KNOWN_TYPES) == {*INCIDENT_TYPES, "unclassified"}
    book = runbook(tmp_path, "", front=f"id: r\ntitle: R\ntypes: [{', '.join(KNOWN_TYPES)}]")
    assert book.types == KNOWN_TYPES


def test_the_revision_is_the_start_of_the_files_sha256(tmp_path: Path) -> None:
    path = write(tmp_path, "r.md", "---\nid: r\ntitle: R\n---\n## Containment\n1. Roll back\n")
    first = parse_runbook(path).revision
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    path.write_text(path.read_text() + "2. Pause retraining\n", encoding="utf-8")
    assert parse_runbook(path).revision != first
    assert len(parse_runbook(path).revision) == 12


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
        ("id: r\ntitle: T\ntypes: [safety, fairness]", "unknown incident type 'fairness' in `types`"),
        ("id: r\ntitle: T\ntypes: Safety", "unknown incident type 'Safety'"),
        ("id: r\ntitle: T\ntypes: 3", "`types` must be a list of incident types"),
        ("id: r\ntitle: T\nmodels: {a: b}", "`models` must be a list of names"),
        ("id: r\ntitle: T\nmodels: [a, '']", "`models` must be a list of names"),
        ("id: r\ntitle: T\nmodels: [a, 7]", "`models` must be a list of names"),
        ("id: r\ntitle: T\nowner: ''", "`owner` must be the name of a team or a person"),
        ("id: r\ntitle: T\nowner: [a, b]", "`owner` must be the name of a team or a person"),
        (
            "id: r\ntitle: T\nlast_reviewed: 2026-13-01",
            "`last_reviewed` '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        ("id: r\ntitle: T\nlast_reviewed: 2026-02-30", "`last_reviewed` '2026-02-30' is not a date"),
        ("id: r\ntitle: T\nlast_reviewed: 01/03/2026", "`last_reviewed` '01/03/2026' is not a date"),
        ("id: r\ntitle: T\nlast_reviewed: 20260301", "`last_reviewed` '20260301' is not a date"),
        ("id: r\ntitle: T\nlast_reviewed: 2026-03-01T10:00:00", "is not a date (YYYY-MM-DD)"),
        ("id: r\ntitle: T\nlast_reviewed: soon", "`last_reviewed` 'soon' is not a date"),
        ("id: r\ntitle: T\nowners: team-a", "unknown front matter key 'owners' (known: id, title, types,"),
    ],
)
def test_invalid_front_matter_names_the_file(tmp_path: Path, front_matter: str, expected: str) -> None:
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
    assert runbook(tmp_path, "", front="id: r\ntitle: R\ntypes: safety").types == ("safety",)


# --- load_library --------------------------------------------------------------------------------


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
    bad_type = write(tmp_path, "d.md", "---\nid: d\ntitle: D\ntypes: [outage]\n---\n")
    bad_date = write(tmp_path, "e.md", "---\nid: e\ntitle: E\nlast_reviewed: yesterday\n---\n")
    (tmp_path / "f.md").write_bytes(b"---\nid: f\ntitle: \xff\xfe\n---\n")

    runbooks, problems = load_library(tmp_path)

    assert list(runbooks) == ["good"]
    assert len(problems) == 5
    assert problems[0].startswith(f"{no_front}: missing front matter")
    assert problems[1] == f"{no_title}: front matter needs a title"
    assert problems[2].startswith(f"{bad_type}: unknown incident type 'outage'")
    assert problems[3].startswith(f"{bad_date}: `last_reviewed` 'yesterday'")
    assert problems[4].startswith(f"{tmp_path / 'f.md'}: cannot read") and "utf-8" in problems[4]


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert load_library(missing) == ({}, [f"{missing}: runbooks directory not found"])


def test_the_shipped_library_parses() -> None:
    """Whatever the shipped runbooks say, the parser reads all of them (their content has tests
    of its own)."""
    runbooks, problems = load_library(ROOT / "runbooks")
    assert problems == []
    assert sorted(b.path for b in runbooks.values()) == SHIPPED
    assert all(len(b.revision) == 12 for b in runbooks.values())


def test_default_for_names_the_types_a_runbook_is_the_general_runbook_of(tmp_path: Path) -> None:
    book = runbook(tmp_path, "", "id: r\ntitle: R\ntypes: [safety, ethical]\ndefault_for: [safety]")
    assert book.default_for == ("safety",)


def test_default_for_must_be_among_the_runbooks_types(tmp_path: Path) -> None:
    with pytest.raises(RunbookError, match="`default_for` type 'ethical' is not among its `types`"):
        runbook(tmp_path, "", "id: r\ntitle: R\ntypes: [safety]\ndefault_for: [ethical]")


def test_two_general_runbooks_for_one_type_are_a_problem(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write(
            tmp_path,
            f"{name}.md",
            f"---\nid: {name}\ntitle: {name}\ntypes: [safety]\ndefault_for: [safety]\n---\n",
        )
    runbooks, problems = load_library(tmp_path)
    assert sorted(runbooks) == ["a", "b"]
    assert problems == [f"{tmp_path / 'b.md'}: `default_for` 'safety' is already claimed by runbook 'a'"]

"""`check-rules` warns, without failing, about runbooks not reviewed lately, without an owner, or
written for a model the on-call file does not know."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from app.cli import main
from app.config import get_settings
from app.runbooks import checks
from app.runbooks.library import Runbook

TODAY = datetime.now(UTC).date()


def book(
    id_: str, *, owner: str | None = "team", reviewed: date | None = None, models: tuple[str, ...] = ()
) -> Runbook:
    return Runbook(
        id=id_,
        title=id_,
        body="",
        path=Path(f"/rb/{id_}.md"),
        owner=owner,
        last_reviewed=reviewed,
        models=models,
    )


def test_warnings_name_the_file_and_what_is_wrong() -> None:
    found = checks.warnings(
        [
            book("fresh", reviewed=date(2026, 6, 1)),
            book("edge", reviewed=date(2026, 1, 1)),  # exactly 180 days: not yet
            book("old", reviewed=date(2025, 12, 31)),
            book("never", owner=None),
            book("model", reviewed=date(2026, 6, 1), models=("fraud-scorer", "ghost")),
        ],
        timedelta(days=180),
        date(2026, 6, 30),
        known_models={"fraud-scorer"},
    )
    assert found == [
        "/rb/model.md: warning: model 'ghost' is not in the on-call file's models",
        "/rb/never.md: warning: no last_reviewed date; review it and record the date",
        "/rb/never.md: warning: no owner; name the team or person who keeps it true",
        "/rb/old.md: warning: last reviewed 2025-12-31, 181 days ago (more than 180 days)",
    ]


def test_models_are_not_compared_without_a_registry() -> None:
    found = checks.warnings([book("m", reviewed=TODAY, models=("x",))], timedelta(days=1), TODAY)
    assert found == []


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """main() reads the settings once per process: start from none, leave none behind."""
    for name in ("BRIDGE_RUNBOOK_MAX_AGE", "BRIDGE_RULES_DIR", "BRIDGE_RUNBOOKS_DIR"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    rules, runbooks = tmp_path / "rules", tmp_path / "runbooks"
    rules.mkdir()
    runbooks.mkdir()
    ages = {"fresh": 10, "month-old": 40, "year-old": 400}
    for name, days in ages.items():
        reviewed = (TODAY - timedelta(days=days)).isoformat()
        front = f"id: {name}\ntitle: {name}\nowner: sre\nlast_reviewed: {reviewed}"
        text = f"---\n{front}\n---\n## Containment\n- Stop.\n"
        (runbooks / f"{name}.md").write_text(text, encoding="utf-8")
    (runbooks / "orphan.md").write_text("---\nid: orphan\ntitle: Orphan\n---\n", encoding="utf-8")
    return rules, runbooks


def run(
    rules: Path, runbooks: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, list[str]]:
    code = main(["check-rules", str(rules), "--runbooks", str(runbooks), *extra])
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def test_check_rules_warns_on_stderr_and_still_succeeds(
    fresh_settings: pytest.MonkeyPatch, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, runbooks = dirs

    code, out, err = run(rules, runbooks, capsys)

    assert code == 0
    assert out == "ok: 0 rules in 0 files, 4 runbooks (3 runbook warning(s))\n"
    year = (TODAY - timedelta(days=400)).isoformat()
    assert err == [
        f"{runbooks / 'orphan.md'}: warning: no last_reviewed date; review it and record the date",
        f"{runbooks / 'orphan.md'}: warning: no owner; name the team or person who keeps it true",
        f"{runbooks / 'year-old.md'}: warning: last reviewed {year}, 400 days ago (more than 180 days)",
    ]


def test_the_flag_sets_the_age(
    fresh_settings: pytest.MonkeyPatch, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, runbooks = dirs
    code, _, err = run(rules, runbooks, capsys, "--runbook-max-age", "30d")
    assert code == 0
    stale = sorted(line.split(":")[0] for line in err if "last reviewed" in line)
    assert stale == [str(runbooks / "month-old.md"), str(runbooks / "year-old.md")]


def test_the_setting_sets_the_age_and_the_flag_wins(
    fresh_settings: pytest.MonkeyPatch, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, runbooks = dirs
    fresh_settings.setenv("BRIDGE_RUNBOOK_MAX_AGE", "5d")
    _, _, err = run(rules, runbooks, capsys)
    assert sum("last reviewed" in line for line in err) == 3
    _, _, err = run(rules, runbooks, capsys, "--runbook-max-age", "1000d")
    assert sum("last reviewed" in line for line in err) == 0


@pytest.mark.parametrize("value", ["soon", "0d", "-3d", "180"])
def test_a_bad_age_is_refused(
    fresh_settings: pytest.MonkeyPatch,
    dirs: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    rules, runbooks = dirs
    with pytest.raises(SystemExit) as exited:
        main(["check-rules", str(rules), "--runbooks", str(runbooks), f"--runbook-max-age={value}"])
    assert exited.value.code == 2
    assert "--runbook-max-age" in capsys.readouterr().err


def test_a_bad_setting_is_refused(
    fresh_settings: pytest.MonkeyPatch, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, runbooks = dirs
    fresh_settings.setenv("BRIDGE_RUNBOOK_MAX_AGE", "half a year")
    code, out, err = run(rules, runbooks, capsys)
    assert code == 2 and out == ""
    assert any("runbook_max_age" in line.lower() for line in err), err


def test_problems_still_fail_and_warnings_wait(
    fresh_settings: pytest.MonkeyPatch, dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, runbooks = dirs
    (runbooks / "broken.md").write_text("---\nid: broken\ntitle: B\nlast_reviewed: 2026-02-30\n---\n")
    code, out, err = run(rules, runbooks, capsys)
    assert code == 1 and out == ""
    assert err[0].startswith(f"{runbooks / 'broken.md'}: `last_reviewed` '2026-02-30' is not a date")
    assert err[-1] == "1 problem(s) found"

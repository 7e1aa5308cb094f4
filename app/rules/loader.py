"""Read and validate the rules directory: every problem reported at once, with file and line."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from app.durations import parse_duration
from app.oncall.config import SECTIONS as ONCALL_SECTIONS
from app.oncall.config import OncallConfig, parse_oncall
from app.rules.engine import IMPACT_LEVELS, Impact, Rule, RuleSet
from app.rules.matchers import MatcherError, parse_matcher
from app.rules.schemas import RuleSpec, SeverityMatrixSpec
from app.rules.sources import Located, format_error
from app.runbooks.library import Runbook, load_library

# Top-level sections of the rules directory's YAML files. `list` sections are concatenated
# across files in file-name order; `single` sections may appear in one file only.
# Unknown names are errors, so typos surface.
SECTIONS: dict[str, str] = {"rules": "list", "severity_matrix": "single", **ONCALL_SECTIONS}


class ConfigError(Exception):
    """The rules directory has problems; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    ruleset: RuleSet
    runbooks: dict[str, Runbook]
    files: tuple[str, ...]
    oncall: OncallConfig = field(default_factory=OncallConfig)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last silently)."""


def _no_duplicate_keys(loader: StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            duplicate = key in seen
        except TypeError:
            continue  # unhashable keys are reported by the constructor below
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark, f"key {key!r} appears twice", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def _item_lines(node: yaml.Node | None, section: str) -> list[int]:
    """Line numbers (1-based) of each item of a top-level list section."""
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == section and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _read_file(path: Path, problems: list[str]) -> dict[str, list[Located]]:
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=StrictLoader)
        data = yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problems.append(f"{path}{line}: YAML syntax error: {exc.problem or exc}")
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(f"{path}: cannot read: {exc}")
        return {}
    if data is None:
        return {}
    if not isinstance(data, dict):
        problems.append(f"{path}:1: the file must be a mapping of sections such as `rules:`")
        return {}
    found: dict[str, list[Located]] = {}
    for name, value in data.items():
        if name not in SECTIONS:
            known = ", ".join(sorted(SECTIONS))
            problems.append(f"{path}: unknown top-level section {name!r} (known: {known})")
            continue
        if SECTIONS[name] == "list":
            if not isinstance(value, list):
                problems.append(f"{path}: section {name!r} must be a list")
                continue
            lines = _item_lines(node, name)
            found[name] = [
                Located(item, f"{path}:{lines[i] if i < len(lines) else '?'}") for i, item in enumerate(value)
            ]
        else:
            found[name] = [Located(value, str(path))]
    return found


def _build_rule(item: Located, runbooks: dict[str, Runbook], problems: list[str]) -> Rule | None:
    raw = item.value if isinstance(item.value, dict) else {}
    label = f"rule {raw['name']!r}" if raw.get("name") else "rule"
    # Matchers and runbook are checked even when other keys are wrong: report everything at once.
    matchers, ok = [], True
    raw_matchers = raw.get("matchers")
    for text in raw_matchers if isinstance(raw_matchers, list) else []:
        try:
            matchers.append(parse_matcher(text))
        except MatcherError as exc:
            problems.append(f"{item.where}: {label}: {exc}")
            ok = False
    runbook = raw.get("runbook")
    if isinstance(runbook, str) and runbook not in runbooks:
        problems.append(f"{item.where}: {label}: unknown runbook {runbook!r}")
        ok = False
    try:
        spec = RuleSpec.model_validate(item.value)
    except ValidationError as exc:
        problems.extend(format_error(item.where, label, exc))
        return None
    if not ok:
        return None
    return Rule(
        name=spec.name,
        matchers=tuple(matchers),
        type=spec.type,
        severity=spec.severity,
        impact=Impact(spec.impact.technical, spec.impact.harm) if spec.impact else None,
        group_by=tuple(spec.group_by),
        runbook=spec.runbook,
        auto_resolve=spec.auto_resolve,
        reopen_window=parse_duration(spec.reopen_window),
        description=spec.description,
        source=item.where,
        group_with=spec.group_with,
    )


def _severity_matrix(items: list[Located], problems: list[str]) -> dict[str, dict[str, str]] | None:
    if not items:
        return None
    item = items[0]
    try:
        matrix = TypeAdapter(SeverityMatrixSpec).validate_python(item.value)
    except ValidationError as exc:
        problems.extend(format_error(item.where, "severity_matrix", exc))
        return None
    cells = {(str(t), str(h)) for t, row in matrix.items() for h in row}
    missing = [f"{t}/{h}" for t in IMPACT_LEVELS for h in IMPACT_LEVELS if (t, h) not in cells]
    if missing:
        problems.append(f"{item.where}: severity_matrix: missing cells {', '.join(missing)}")
        return None
    return {str(t): {str(h): str(s) for h, s in row.items()} for t, row in matrix.items()}


def load_config(rules_dir: Path, runbooks_dir: Path) -> Config:
    """Load and validate everything; raise ConfigError listing every problem found."""
    problems: list[str] = []
    runbooks, runbook_problems = load_library(runbooks_dir)
    problems.extend(runbook_problems)
    if not rules_dir.is_dir():
        raise ConfigError([*problems, f"{rules_dir}: rules directory not found"])
    files = sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    merged: dict[str, list[Located]] = {}
    for path in files:
        for name, items in _read_file(path, problems).items():
            if SECTIONS[name] == "single" and name in merged:
                problems.append(
                    f"{items[0].where}: section {name!r} is already set in {merged[name][0].where}"
                )
                continue
            merged.setdefault(name, []).extend(items)
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for item in merged.get("rules", []):
        rule = _build_rule(item, runbooks, problems)
        if rule is None:
            continue
        if rule.name in seen:
            problems.append(f"{item.where}: duplicate rule name {rule.name!r} (first at {seen[rule.name]})")
            continue
        seen[rule.name] = item.where
        rules.append(rule)
    for rule in rules:
        if rule.group_with is not None and rule.group_with not in seen:
            unknown = rule.group_with
            problems.append(f"{rule.source}: rule {rule.name!r}: group_with names unknown rule {unknown!r}")
    matrix = _severity_matrix(merged.get("severity_matrix", []), problems)
    oncall = parse_oncall(merged, problems)
    if problems:
        raise ConfigError(problems)
    ruleset = RuleSet(tuple(rules), matrix) if matrix else RuleSet(tuple(rules))
    names = tuple(str(f) for f in files)
    return Config(ruleset=ruleset, runbooks=runbooks, files=names, oncall=oncall)

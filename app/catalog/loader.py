"""Read the rules directory once: every file, every section, every problem at once.

Each domain declares its sections and parses them (rules, on-call; runbooks live in their own
directory); this module reads the YAML, checks section names, merges files in name order and
hands each parser what it declared. A new section (communications, reviews, ...) plugs in by
adding its parser to PARSERS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from app.heartbeats import config as heartbeats_config
from app.heartbeats.config import HeartbeatsConfig
from app.oncall import config as oncall_config
from app.oncall.config import OncallConfig
from app.protocol import config as protocol_config
from app.protocol.config import CommunicationsConfig
from app.protocol.templates import Templates, load_templates
from app.rules import config as rules_config
from app.rules import reviews as reviews_config
from app.rules import workspace as workspace_config
from app.rules.engine import RuleSet
from app.rules.reviews import ReviewsConfig
from app.rules.workspace import WorkspaceConfig
from app.runbooks.library import Runbook, load_library
from app.sections import Located, Merged, SectionKind

# Every top-level section of the rules directory, by the domain that parses it.
# Unknown names are errors, so typos surface.
SECTIONS: dict[str, SectionKind] = {
    **rules_config.SECTIONS,
    **oncall_config.SECTIONS,
    **workspace_config.SECTIONS,
    **protocol_config.SECTIONS,
    **reviews_config.SECTIONS,
    **heartbeats_config.SECTIONS,
}
# Single sections whose problems name the line of the section (file:line); the older ones
# (`severity_matrix`, `paging`) name the file only.
LINED_SECTIONS = frozenset(
    {**workspace_config.SECTIONS, **protocol_config.SECTIONS, **reviews_config.SECTIONS}
)


class ConfigError(Exception):
    """The rules directory has problems; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Catalog:
    """Everything read from the rules and runbooks directories, as one consistent version."""

    ruleset: RuleSet
    runbooks: dict[str, Runbook]
    files: tuple[str, ...]
    oncall: OncallConfig = field(default_factory=OncallConfig)
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)
    communications: CommunicationsConfig = field(default_factory=CommunicationsConfig)
    templates: Templates = field(default_factory=Templates)
    reviews: ReviewsConfig = field(default_factory=ReviewsConfig)
    heartbeats: HeartbeatsConfig = field(default_factory=HeartbeatsConfig)
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


def _section_line(node: yaml.Node | None, section: str) -> int | None:
    """Line number (1-based) of a top-level section's key."""
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == section:
                return int(key.start_mark.line) + 1
    return None


def _read_file(path: Path, problems: list[str]) -> Merged:
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
    found: Merged = {}
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
        elif name in LINED_SECTIONS:
            found[name] = [Located(value, f"{path}:{_section_line(node, name) or '?'}")]
        else:
            found[name] = [Located(value, str(path))]
    return found


def read_sections(files: list[Path], problems: list[str]) -> Merged:
    """Merge the sections of every file: lists concatenated, single sections set once."""
    merged: Merged = {}
    for path in files:
        for name, items in _read_file(path, problems).items():
            if SECTIONS[name] == "single" and name in merged:
                problems.append(
                    f"{items[0].where}: section {name!r} is already set in {merged[name][0].where}"
                )
                continue
            merged.setdefault(name, []).extend(items)
    return merged


def load_catalog(rules_dir: Path, runbooks_dir: Path) -> Catalog:
    """Load and validate everything; raise ConfigError listing every problem found."""
    problems: list[str] = []
    runbooks, runbook_problems = load_library(runbooks_dir)
    problems.extend(runbook_problems)
    if not rules_dir.is_dir():
        raise ConfigError([*problems, f"{rules_dir}: rules directory not found"])
    files = sorted(p for p in rules_dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    merged = read_sections(files, problems)
    ruleset = rules_config.parse_rules(merged, runbooks.keys(), problems)
    oncall = oncall_config.parse_oncall(merged, problems)
    # The rules weigh harm by the registry's risk tiers; they get the tiers, not the on-call config.
    ruleset = ruleset.with_risk_tiers({m.id: m.risk_tier for m in oncall.models.values()})
    workspace = workspace_config.parse_workspace(merged, problems)
    communications = protocol_config.parse_communications(
        merged, set(oncall.people), set(oncall.teams), problems
    )
    templates = load_templates(rules_dir, problems)
    reviews = reviews_config.parse_reviews(merged, set(oncall.people), problems)
    heartbeats = heartbeats_config.parse_heartbeats(merged, set(oncall.policies), runbooks.keys(), problems)
    for name in sorted(communications.templates_used() - set(templates.sources)):
        problems.append(
            f"communications: template {name!r} not found (known: {', '.join(sorted(templates.sources))};"
            f" add {rules_dir / 'templates' / (name + '.txt')})"
        )
    if problems:
        raise ConfigError(problems)
    return Catalog(
        ruleset=ruleset,
        runbooks=runbooks,
        files=tuple(str(f) for f in files),
        oncall=oncall,
        workspace=workspace,
        communications=communications,
        templates=templates,
        reviews=reviews,
        heartbeats=heartbeats,
    )

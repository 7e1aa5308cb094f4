"""The `workspace:` section of the rules directory: which incident types are restricted (they
may concern people's rights or legal exposure). Parsed here, beside the rules that give incidents
their types; the incidents domain applies it.

```yaml
workspace:
  restricted_types: [fairness_violation, ethical, safety]   # the default
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.sections import Merged, SectionKind, format_error
from app.vocabulary import IncidentType

SECTIONS: dict[str, SectionKind] = {"workspace": "single"}

# Fairness, ethical and safety incidents may concern people's rights or legal exposure.
RESTRICTED_BY_DEFAULT: tuple[IncidentType, ...] = ("fairness_violation", "ethical", "safety")
DEFAULT_RESTRICTED_TYPES: frozenset[str] = frozenset(RESTRICTED_BY_DEFAULT)


class WorkspaceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    restricted_types: list[IncidentType] = Field(default_factory=lambda: list(RESTRICTED_BY_DEFAULT))


@dataclass(frozen=True)
class WorkspaceConfig:
    """What the workspace section decides, with its defaults when the section is absent."""

    restricted_types: frozenset[str] = field(default_factory=lambda: DEFAULT_RESTRICTED_TYPES)

    def snapshot(self) -> dict[str, Any]:
        return {"restricted_types": sorted(self.restricted_types)}


def parse_workspace(merged: Merged, problems: list[str]) -> WorkspaceConfig:
    """Validate the `workspace:` section; every problem is reported with file:line."""
    config = WorkspaceConfig()
    for item in merged.get("workspace", []):
        value = {} if item.value is None else item.value
        try:
            spec = WorkspaceSpec.model_validate(value)
        except ValidationError as exc:
            problems.extend(format_error(item.where, "workspace", exc))
            continue
        config = WorkspaceConfig(restricted_types=frozenset(spec.restricted_types))
    return config

"""Templates of the notices: Jinja2 text files, one per audience, shipped in app/protocol/templates
and overridable (or added to) by files of the same name in the rules directory's `templates/`.

Templates are rendered in a sandbox from the incident's facts (see SAMPLE_FACTS for every name a
template may use). Each one is checked when the rules are loaded by rendering it with the sample
facts, so a typo fails `check-rules` and a reload instead of a notice under pressure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

SHIPPED = Path(__file__).parent / "templates"
SUFFIX = ".txt"
MAX_TEMPLATE_BYTES = 64 * 1024

# Every fact a template can use, with an example value; rendering these catches typos at load.
SAMPLE_FACTS: dict[str, Any] = {
    "incident": {
        "id": 42,
        "title": "Approval rate gap between age groups above threshold",
        "type": "fairness_violation",
        "type_words": "fairness violation",
        "severity": "SEV2",
        "status": "acknowledged",
        "description": "",
        "opened_at": "2026-11-30 08:00 UTC",
        "since": "2026-11-30 06:40 UTC",
        "contained": True,
        "contained_at": "2026-11-30 09:10 UTC",
        "containment": "Rolled back to the previous model version.",
        "resolved_at": "",
        "owner": "maria",
        "url": "https://bridge.example.org/incidents/42",
    },
    "model": {
        "id": "credit-scorer",
        "description": "Consumer credit scoring",
        "decisions": "whether a loan application is approved",
    },
    "harm": {
        "assessed": True,
        "level": "harm_event",
        "level_words": "harm event",
        "domains": ["fundamental_rights"],
        "domain_words": "fundamental rights",
        "affected_groups": ["applicants over 60"],
        "persons_affected": 1200,
        "personal_data_breach": False,
        "death": False,
        "widespread": False,
        "member_states": [],
        "causal_link": "suspected",
        "aware_at": "2026-11-30 08:05 UTC",
    },
    "audience": {"id": "affected-users", "name": "Affected users"},
    "contact": "the model risk desk, ai-incidents@example.org",
    "due_at": "2026-12-03 08:05 UTC",
    "next_update_by": "2026-12-01 08:05 UTC",
    "decisions": ["Roll back to v41 rather than retrain: retraining needs the evidence kept."],
    "update_number": 1,
}


def environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        autoescape=False,  # plain text notices; HTML pages escape them when showing them
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@dataclass(frozen=True)
class Templates:
    """Template sources by name, and where each came from (shipped or the rules directory).

    Each template is compiled once, when it is loaded and checked (else on first use):
    compiling costs far more than rendering.
    """

    sources: dict[str, str] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    _compiled: dict[str, Template] = field(default_factory=dict, repr=False, compare=False)

    def render(self, name: str, facts: dict[str, Any]) -> str:
        """The notice text, rendered from the incident's facts."""
        template = self._compiled.get(name)
        if template is None:
            source = self.sources.get(name)
            if source is None:
                raise KeyError(f"no template {name!r}")
            template = self._compiled[name] = _ENVIRONMENT.from_string(source)
        return template.render(**facts).strip() + "\n"


_ENVIRONMENT = environment()


def _read(directory: Path, sources: dict[str, str], origins: dict[str, str], problems: list[str]) -> None:
    if not directory.is_dir():
        return
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            if path.stat().st_size > MAX_TEMPLATE_BYTES:
                problems.append(f"{path}: template is larger than {MAX_TEMPLATE_BYTES} bytes")
                continue
            sources[path.stem] = path.read_text(encoding="utf-8")
            origins[path.stem] = str(path)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}: cannot read template: {exc}")


def check(templates: Templates, problems: list[str]) -> None:
    """Compile and render every template with the sample facts; report each failure with its file."""
    for name, source in templates.sources.items():
        where = templates.origins[name]
        try:
            compiled = _ENVIRONMENT.from_string(source)
            compiled.render(**SAMPLE_FACTS)
            templates._compiled[name] = compiled  # the first notice under pressure compiles nothing
        except TemplateSyntaxError as exc:
            problems.append(f"{where}:{exc.lineno}: template syntax error: {exc.message}")
        except TemplateError as exc:
            problems.append(f"{where}: template error: {exc}")
        except Exception as exc:  # any failure of a template is the file's problem, not a crash
            problems.append(f"{where}: template error: {type(exc).__name__}: {exc}")


def load_templates(rules_dir: Path, problems: list[str]) -> Templates:
    """The shipped templates, then the rules directory's `templates/` over them."""
    sources: dict[str, str] = {}
    origins: dict[str, str] = {}
    _read(SHIPPED, sources, origins, problems)
    _read(rules_dir / "templates", sources, origins, problems)
    templates = Templates(sources, origins)
    check(templates, problems)
    return templates

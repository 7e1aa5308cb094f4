"""What a page says, whatever the channel: built once per delivery from the incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.urls import safe_link
from app.vocabulary import (
    ACKNOWLEDGE,
    COMMUNICATION,
    FALLBACK,
    PAGE,
    REMINDER,
    RESOLVE,
    REVIEW_NOTICE,
    SEVERITY_RAISED,
    WAKING_KINDS,
)

SUBJECT_PREFIX: dict[str, str] = {
    PAGE: "",
    SEVERITY_RAISED: "Severity raised: ",
    ACKNOWLEDGE: "Acknowledged: ",
    RESOLVE: "Resolved: ",
    FALLBACK: "UNDELIVERED PAGE: ",
    COMMUNICATION: "Notice: ",
    REMINDER: "Overdue: ",
    REVIEW_NOTICE: "Post-incident: ",
}


@dataclass(frozen=True)
class Message:
    delivery_id: str
    kind: str  # a NotificationKind
    recipient: str
    incident_id: int
    incident_key: str
    title: str
    status: str
    severity: str
    type: str
    model: str | None
    owner: str | None
    opened_at: datetime
    urgency: str  # high or low
    runbook_title: str | None = None
    runbook_url: str | None = None
    containment: tuple[str, ...] = ()
    links: dict[str, str] = field(default_factory=dict)  # acknowledge, resolve, view
    note: str = ""
    step: int | None = None
    acknowledged_by: str | None = None
    resolved_by: str | None = None

    @property
    def runbook_link(self) -> str | None:
        """The runbook URL when it may become a link (http or https), else None."""
        return safe_link(self.runbook_url)

    @property
    def _model_suffix(self) -> str:
        # Alert summaries often name the model already ("... on fraud-scorer").
        return f" on {self.model}" if self.model and self.model not in self.title else ""

    @property
    def subject(self) -> str:
        return f"{SUBJECT_PREFIX.get(self.kind, '')}[{self.severity}] {self.title}{self._model_suffix}"

    @property
    def headline(self) -> str:
        """One line a phone lock screen can show."""
        kind = self.type.replace("_", " ")
        return f"{self.severity} {kind}: {self.title}{self._model_suffix}"

    def text(self) -> str:
        """The plain-text body shared by email and chat fallbacks."""
        lines = [self.headline, ""]
        if self.note:
            lines += [self.note, ""]
        lines += [
            f"Incident #{self.incident_id} is {self.status}.",
            f"Severity: {self.severity}    Type: {self.type}",
            f"Model: {self.model or 'unknown'}    Owner: {self.owner or 'unowned'}",
        ]
        if self.containment:
            lines += ["", "Contain first:"]
            lines += [f"  {i}. {step}" for i, step in enumerate(self.containment[:3], start=1)]
        if self.runbook_link:
            lines += ["", f"Runbook: {self.runbook_title or self.runbook_link} - {self.runbook_link}"]
        if self.links:
            lines += [""]
            if self.kind in WAKING_KINDS:
                lines.append(f"Acknowledge: {self.links['acknowledge']}")
                lines.append(f"Resolve:     {self.links['resolve']}")
            lines.append(f"View:        {self.links['view']}")
        return "\n".join(lines) + "\n"

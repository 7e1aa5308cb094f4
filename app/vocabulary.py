"""One vocabulary: severity, incident type and status, notification kind and status.

Each word is defined here once and imported everywhere (schemas, models, services, channels),
so a new status or kind cannot be spelled differently in two places.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# Severity: SEV1 is the worst.
Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
SEVERITIES: Final[tuple[Severity, ...]] = get_args(Severity)

# What kind of failure an incident is; `unclassified` when no rule matched.
IncidentType = Literal[
    "technical_failure", "performance_degradation", "fairness_violation", "safety", "ethical"
]
INCIDENT_TYPES: Final[tuple[IncidentType, ...]] = get_args(IncidentType)
UNCLASSIFIED: Final = "unclassified"

# Incident status and the actions that move it (the state machine is app/incidents/state.py).
# `closed`: resolved, and its review (when one is required) approved; nothing reopens it.
IncidentStatus = Literal["triggered", "acknowledged", "resolved", "closed"]
TRIGGERED: Final = "triggered"
ACKNOWLEDGED: Final = "acknowledged"
RESOLVED: Final = "resolved"
CLOSED: Final = "closed"
INCIDENT_STATUSES: Final[tuple[IncidentStatus, ...]] = get_args(IncidentStatus)
OPEN_STATUSES: Final[tuple[IncidentStatus, ...]] = (TRIGGERED, ACKNOWLEDGED)

Action = Literal["acknowledge", "resolve", "reopen", "snooze", "wake", "reassign", "close"]
ACKNOWLEDGE: Final = "acknowledge"
CLOSE: Final = "close"
RESOLVE: Final = "resolve"
REOPEN: Final = "reopen"
SNOOZE: Final = "snooze"  # an acknowledged incident pages again if not handled in time
WAKE: Final = "wake"  # its snooze ran out: back to triggered
REASSIGN: Final = "reassign"  # someone else must acknowledge now
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
PAST_TENSE: Final[dict[str, str]] = {ACKNOWLEDGE: ACKNOWLEDGED, RESOLVE: RESOLVED}
PERSON_ACTIONS_PAST: Final[dict[str, str]] = {**PAST_TENSE, CLOSE: CLOSED}

# Where an incident came from: an alert, or a person who reported what no monitor caught.
IncidentSource = Literal["monitoring", "user_report", "reviewer", "vendor_notice", "other"]
MONITORING: Final = "monitoring"
INCIDENT_SOURCES: Final[tuple[IncidentSource, ...]] = get_args(IncidentSource)

# How one incident relates to another.
LinkRelation = Literal["duplicate_of", "related"]
DUPLICATE_OF: Final = "duplicate_of"

# A note is a plain note or a decision (with its rationale: why roll back rather than retrain).
NoteKind = Literal["note", "decision"]

# Alert status as Alertmanager sends it.
AlertStatus = Literal["firing", "resolved"]
FIRING: Final = "firing"

# Notification kinds. The waking kinds page a person and stop mattering once the incident is
# handled; the others tell people who were paged that something changed.
NotificationKind = Literal[
    "page", "severity", "fallback", "acknowledge", "resolve", "communication", "reminder", "review", "sign_in"
]
PAGE: Final = "page"
SEVERITY_RAISED: Final = "severity"
FALLBACK: Final = "fallback"
COMMUNICATION: Final = "communication"  # a notice the communication protocol sends an audience
REMINDER: Final = "reminder"  # something is overdue: a communication, a report, a review
REVIEW_NOTICE: Final = "review"  # a review or an action is yours; the weekly digest of actions
NOTIFICATION_KINDS: Final[tuple[NotificationKind, ...]] = get_args(NotificationKind)
WAKING_KINDS: Final[tuple[NotificationKind, ...]] = (PAGE, SEVERITY_RAISED, FALLBACK)
# What a person is waiting for goes first: pages, and the word that an incident is handled.
# The rest (notices, reminders, review messages) goes by a queue of its own behind them.
PAGING_FIRST: Final = frozenset({*WAKING_KINDS, ACKNOWLEDGE, RESOLVE})

# Notification (outbox row) status.
NotificationStatus = Literal["pending", "sending", "delivered", "failed", "cancelled"]
PENDING: Final = "pending"
SENDING: Final = "sending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
NOTIFICATION_STATUSES: Final[tuple[NotificationStatus, ...]] = get_args(NotificationStatus)

Urgency = Literal["high", "low"]

# Harm assessment of an incident (app/incidents/harm.py): how bad, to what, how sure.
HarmLevel = Literal["none", "issue", "near_miss", "harm_event", "serious"]
SERIOUS: Final = "serious"
HARM_LEVELS: Final[tuple[HarmLevel, ...]] = get_args(HarmLevel)
HarmDomain = Literal["health_safety", "critical_infrastructure", "fundamental_rights", "property_environment"]
CRITICAL_INFRASTRUCTURE: Final = "critical_infrastructure"
HARM_DOMAINS: Final[tuple[HarmDomain, ...]] = get_args(HarmDomain)
CausalLink = Literal["suspected", "established"]

# A model's registry facts that decide which regulatory clocks run (the on-call file's models).
RiskTier = Literal["high", "limited", "minimal"]
HIGH_RISK: Final = "high"
ModelRole = Literal["provider", "deployer"]
DEPLOYER: Final = "deployer"

# Regulatory clocks (app/incidents/obligations.py): which regime, which stage, where it stands.
# The shipped regimes are named here; organisations add their own in the `communications:` section.
EU_AI_ACT_ART73: Final = "eu_ai_act_art73"
GDPR_ART33: Final = "gdpr_art33"
REPORT: Final = "report"
INFORM_PROVIDER: Final = "inform_provider"
NOTIFY_AUTHORITY: Final = "notify_authority"
ObligationStatus = Literal["open", "initial_sent", "complete", "not_applicable"]
OPEN: Final = "open"
INITIAL_SENT: Final = "initial_sent"
COMPLETE: Final = "complete"
NOT_APPLICABLE: Final = "not_applicable"
OBLIGATION_STATUSES: Final[tuple[ObligationStatus, ...]] = get_args(ObligationStatus)
ReportKind = Literal["initial", "complete"]
INITIAL: Final = "initial"

# Communications (app/communications): a task to tell an audience, and where it stands.
# `overdue` is never stored: a task not yet sent shows as overdue once past its due time.
CommunicationStatus = Literal["pending", "draft", "approved", "sent", "overdue", "cancelled"]
DRAFT: Final = "draft"
APPROVED: Final = "approved"
SENT: Final = "sent"
OVERDUE: Final = "overdue"
COMMUNICATION_STATUSES: Final[tuple[CommunicationStatus, ...]] = get_args(CommunicationStatus)
UNSENT_STATUSES: Final[tuple[str, ...]] = (PENDING, DRAFT, APPROVED)
# What a communication's due time counts from.
Anchor = Literal["opened", "acknowledged", "aware", "resolved"]
ANCHORS: Final[tuple[Anchor, ...]] = get_args(Anchor)

# Post-incident reviews (app/reviews) and their improvement actions.
ReviewStatus = Literal["draft", "in_review", "approved"]
IN_REVIEW: Final = "in_review"
REVIEW_STATUSES: Final[tuple[ReviewStatus, ...]] = get_args(ReviewStatus)
RootCauseCategory = Literal[
    "training_data",
    "feature_computation",
    "model_version",
    "upstream_data_drift",
    "infrastructure",
    "third_party",
    "process",
    "unknown",
]
ROOT_CAUSE_CATEGORIES: Final[tuple[RootCauseCategory, ...]] = get_args(RootCauseCategory)
ActionStatus = Literal["open", "in_progress", "done", "wont_do"]
IN_PROGRESS: Final = "in_progress"
DONE: Final = "done"
WONT_DO: Final = "wont_do"
ACTION_STATUSES: Final[tuple[ActionStatus, ...]] = get_args(ActionStatus)
OPEN_ACTION_STATUSES: Final[tuple[str, ...]] = (OPEN, IN_PROGRESS)
Priority = Literal["low", "medium", "high"]
PRIORITIES: Final[tuple[Priority, ...]] = get_args(Priority)

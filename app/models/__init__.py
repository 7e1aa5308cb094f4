"""ORM classes, one module per aggregate; importing this package registers every table."""

from app.models.alert import Alert
from app.models.communication import Communication, IncidentMoment, Obligation
from app.models.heartbeat import Heartbeat
from app.models.incident import HarmAssessment, Incident, IncidentAccess, IncidentEvent, IncidentLink
from app.models.instance import ReadinessProbe, ServiceKey
from app.models.paging import Escalation, Notification
from app.models.review import ActionDigest, Review, ReviewAction
from app.models.web import UsedSignInLink

__all__ = [
    "ActionDigest",
    "Alert",
    "Communication",
    "Escalation",
    "HarmAssessment",
    "Heartbeat",
    "Incident",
    "IncidentAccess",
    "IncidentEvent",
    "IncidentLink",
    "IncidentMoment",
    "Notification",
    "Obligation",
    "ReadinessProbe",
    "Review",
    "ReviewAction",
    "ServiceKey",
    "UsedSignInLink",
]

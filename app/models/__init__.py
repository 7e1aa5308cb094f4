"""ORM classes, one module per aggregate; importing this package registers every table."""

from app.models.alert import Alert
from app.models.incident import HarmAssessment, Incident, IncidentAccess, IncidentEvent, IncidentLink
from app.models.instance import ReadinessProbe, ServiceKey
from app.models.paging import Escalation, Notification
from app.models.web import UsedSignInLink

__all__ = [
    "Alert",
    "Escalation",
    "HarmAssessment",
    "Incident",
    "IncidentAccess",
    "IncidentEvent",
    "IncidentLink",
    "Notification",
    "ReadinessProbe",
    "ServiceKey",
    "UsedSignInLink",
]

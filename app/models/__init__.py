"""ORM classes, one module per aggregate; importing this package registers every table."""

from app.models.alert import Alert
from app.models.incident import OPEN_STATUSES, Incident, IncidentEvent
from app.models.paging import Escalation, Notification

__all__ = ["OPEN_STATUSES", "Alert", "Escalation", "Incident", "IncidentEvent", "Notification"]

"""Payload schemas: the Alertmanager webhook (version 4) and the normalized alert we store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

# Alertmanager sends Go's zero time for "not set".
GO_ZERO_YEAR = 1
# Sizes of the columns an alert's fields land in (app/models): incident.model. Incident keys need
# no limit here: the rules engine hashes long ones. The sent fingerprint is not the stored identity
# (16 hex digits, computed from the labels) but stays bounded like the column it once filled.
MAX_FINGERPRINT = 64
MAX_MODEL = 200
NUL = "\x00"  # PostgreSQL takes it in neither text nor JSONB: refused on every database alike

# Years 1-9999 once converted to UTC (0001-01-01T00:30:00+01:00 is year 0): compared in the
# validator's core, no Python call per alert. Go's zero time, endsAt "unset", is the lower bound.
StorableTime = Annotated[
    AwareDatetime,
    Field(ge=datetime(1, 1, 1, tzinfo=UTC), le=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
]


TIME_FIELDS = ("startsAt", "endsAt")
TIME_OUT_OF_RANGE = "the time falls outside years 1-9999 once converted to UTC"


def error_message(error: Mapping[str, object]) -> str:
    """The message of one validation error, said in terms of what can be stored."""
    loc = error.get("loc")
    bound = error.get("type") in ("greater_than_equal", "less_than_equal")
    if bound and isinstance(loc, tuple) and loc and loc[-1] in TIME_FIELDS:
        return TIME_OUT_OF_RANGE
    return str(error.get("msg", ""))


def _error(loc: tuple[str, ...], kind: str, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=loc[-1])


def _at(prefix: tuple[str | int, ...], error: InitErrorDetails) -> InitErrorDetails:
    """The error of one alert, located in the whole body."""
    return {**error, "loc": (*prefix, *error.get("loc", ()))}


def _nul_errors(field: str, value: Mapping[str, str] | str) -> list[InitErrorDetails]:
    """Where NUL characters are; called only once one was seen somewhere in the object."""
    message = "contains a NUL character (\\u0000), which cannot be stored"
    if isinstance(value, str):
        return [_error((field,), "nul_character", message)] if NUL in value else []
    errors = []
    for key, item in value.items():
        if NUL in key:
            errors.append(_error((field, key), "nul_character", f"the name {message}"))
        elif NUL in item:
            errors.append(_error((field, key), "nul_character", f"the value {message}"))
    return errors


Fields = dict[str, Mapping[str, str] | str]


def _all_nul_errors(fields: Fields) -> list[InitErrorDetails]:
    return [e for name, value in fields.items() for e in _nul_errors(name, value)]


def nul_free(body: bytes) -> bool:
    """Whether a JSON body certainly holds no NUL character: JSON can carry one only escaped,
    as `\\u0000`. Pass `context=parse_context(body)` to skip looking for one field by field."""
    return b"\\u0000" not in body


def parse_context(body: bytes) -> dict[str, bool]:
    return {NUL_FREE: nul_free(body)}


NUL_FREE = "nul_free"


def _nul_possible(info: ValidationInfo) -> bool:
    return not (isinstance(info.context, dict) and info.context.get(NUL_FREE))


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: StorableTime
    endsAt: StorableTime | None = None
    generatorURL: str = ""
    fingerprint: str = Field(
        default="",
        max_length=MAX_FINGERPRINT,
        description="As sent; the alert's identity is computed from its labels, as Alertmanager does",
    )

    def problems(self, nul_possible: bool) -> list[InitErrorDetails]:
        """What no database would store: NUL characters, a model name too long."""
        labels, annotations = self.labels, self.annotations
        errors: list[InitErrorDetails] = []
        if nul_possible and NUL in "".join(
            (
                *labels,
                *labels.values(),
                *annotations,
                *annotations.values(),
                self.generatorURL,
                self.fingerprint,
            )
        ):
            fields: Fields = {
                "labels": labels,
                "annotations": annotations,
                "generatorURL": self.generatorURL,
                "fingerprint": self.fingerprint,
            }
            errors = _all_nul_errors(fields)
        model = labels.get("model")
        if model is not None and len(model) > MAX_MODEL:
            message = f"the model label is {len(model)} characters long; at most {MAX_MODEL} can be stored"
            errors.append(_error(("labels", "model"), "string_too_long", message))
        return errors


class AlertmanagerWebhook(BaseModel):
    """Alertmanager's webhook body; unknown fields are tolerated (newer versions add some)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    receiver: str = ""
    status: Literal["firing", "resolved"]
    alerts: list[AmAlert]
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = ""
    groupKey: str = ""
    truncatedAlerts: int = 0

    @model_validator(mode="after")
    def _storable(self, info: ValidationInfo) -> Self:
        """Nothing a database would refuse, in the alerts or around them: one call per body."""
        nul_possible = _nul_possible(info)
        errors = [
            _at(("alerts", index), problem)
            for index, alert in enumerate(self.alerts)
            for problem in alert.problems(nul_possible)
        ]
        if nul_possible:
            around: Fields = {
                "receiver": self.receiver,
                "groupLabels": self.groupLabels,
                "commonLabels": self.commonLabels,
                "commonAnnotations": self.commonAnnotations,
                "externalURL": self.externalURL,
                "groupKey": self.groupKey,
            }
            errors += _all_nul_errors(around)
        if errors:
            raise ValidationError.from_exception_data("AlertmanagerWebhook", errors)
        return self


@dataclass(slots=True)  # read-only by convention: a frozen dataclass takes 4x as long to make
class AlertIn:
    """One alert as the incident flow sees it, whatever monitor sent it.

    `fingerprint` is the alert's identity (deduplication, resolution): always computed from the
    labels, never taken from the sender. `sent_fingerprint` is what the sender claimed ("" if none).
    """

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str = ""
    source: str = "alertmanager"
    sent_fingerprint: str = ""


# Prometheus model.LabelSet.Fingerprint() (prometheus/common model/signature.go,
# labelSetToFingerprint): FNV-1a 64 over the names in byte order, each name and each value
# followed by the separator byte 0xff; rendered as 16 lowercase hex digits (Fingerprint.String).
FNV64_OFFSET = 14695981039346656037
FNV64_PRIME = 1099511628211
FNV64_MASK = 0xFFFFFFFFFFFFFFFF
SEPARATOR = b"\xff"
# Alertmanager resends the same label sets (retries, repeats, every alert of a group each time):
# remember recent ones. Bounded in entries and in the size of what one entry may hold.
_CACHE_ENTRIES = 8192
_CACHE_MAX_BYTES = 1024
_fingerprints: dict[tuple[tuple[str, str], ...], str] = {}


def labelset_fingerprint(labels: Mapping[str, str]) -> str:
    """The fingerprint Alertmanager and Prometheus compute for this label set."""
    key = tuple(labels.items())
    known = _fingerprints.get(key)
    if known is not None:
        return known
    parts: list[bytes] = []
    for name in sorted(labels):  # str order is UTF-8 byte order, as Go sorts
        parts += (name.encode(), SEPARATOR, labels[name].encode(), SEPARATOR)
    data = b"".join(parts)
    value = FNV64_OFFSET
    for byte in data:
        value = ((value ^ byte) * FNV64_PRIME) & FNV64_MASK
    fingerprint = f"{value:016x}"
    if len(data) <= _CACHE_MAX_BYTES:
        if len(_fingerprints) >= _CACHE_ENTRIES:
            _fingerprints.pop(next(iter(_fingerprints)), None)  # the oldest entry
        _fingerprints[key] = fingerprint
    return fingerprint


def from_alertmanager(payload: AlertmanagerWebhook) -> list[AlertIn]:
    """The payload's alerts, identified by their labels (the sent fingerprint is kept as data)."""
    out = []
    for alert in payload.alerts:
        ends_at = alert.endsAt
        if ends_at is not None and ends_at.year == GO_ZERO_YEAR:
            ends_at = None
        out.append(
            AlertIn(
                fingerprint=labelset_fingerprint(alert.labels),
                status=alert.status,
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.startsAt,
                ends_at=ends_at,
                generator_url=alert.generatorURL,
                sent_fingerprint=alert.fingerprint,
            )
        )
    return out


def fingerprint_mismatches(alerts: list[AlertIn]) -> int:
    """How many alerts came with a fingerprint that is not the one of their labels."""
    return sum(1 for a in alerts if a.sent_fingerprint and a.sent_fingerprint != a.fingerprint)

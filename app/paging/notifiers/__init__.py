"""The channels a page can go out by, and the registry the dispatcher looks them up in."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from app.config import Settings
from app.instance.keys import Keys
from app.paging.notifiers.base import DeliveryError, Notifier
from app.paging.notifiers.email import EmailNotifier
from app.paging.notifiers.log import LogNotifier
from app.paging.notifiers.pagerduty import PagerDutyNotifier
from app.paging.notifiers.slack import SlackNotifier
from app.paging.notifiers.webhook import WebhookNotifier

__all__ = ["DeliveryError", "Notifier", "build_notifiers", "quiet_http_loggers"]


def quiet_http_loggers() -> None:
    """httpx logs every request with its full URL at INFO (httpcore at DEBUG): for a Slack
    incoming webhook the URL is the credential. Only their warnings and errors get through."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


def build_notifiers(settings: Settings, client: httpx.Client, keys: Keys) -> dict[str, Notifier[Any]]:
    """Every channel, constructed once, by channel name; webhooks default to `keys.webhooks`."""
    quiet_http_loggers()
    notifiers: list[Notifier[Any]] = [
        EmailNotifier(settings.smtp),
        WebhookNotifier(client, keys.webhooks),
        SlackNotifier(client),
        PagerDutyNotifier(client, settings.pagerduty_events_url),
        LogNotifier(settings.environment),
    ]
    return {notifier.channel: notifier for notifier in notifiers}

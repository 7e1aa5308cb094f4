"""Which URLs may become links: absolute http(s) URLs with a host, nothing else.

Autoescaping keeps markup out of a page but does not look at URL schemes: a `javascript:` or
`data:` URL in an alert's annotation would still run when clicked. Every URL that came from
outside (alert annotations, rule files) passes through `safe_link` before it becomes a link in
a page, an email, a Slack message or a PagerDuty event.
"""

from __future__ import annotations

from urllib.parse import urlsplit

SCHEMES = ("http", "https")


def safe_link(url: object) -> str | None:
    """The URL itself when it is an absolute http(s) URL with a host; None otherwise."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        return None
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):  # spaces and controls hide schemes
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        return None
    return url

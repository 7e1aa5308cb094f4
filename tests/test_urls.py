"""Only absolute http(s) URLs with a host may become links."""

from __future__ import annotations

import pytest

from app.urls import safe_link


@pytest.mark.parametrize(
    "url",
    [
        "https://runbooks.example.com/fraud",
        "http://127.0.0.1:8080/runbooks/x?y=1#z",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_http_urls_are_kept(url: str) -> None:
    assert safe_link(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "\x00javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/path",
        "/relative/path",
        "https://",
        "http:///no-host",
        "https://exa mple.com/",
        "https://example.com/\n",
        "",
        None,
        42,
        "https://example.com/" + "a" * 3000,
    ],
)
def test_everything_else_is_refused(url: object) -> None:
    assert safe_link(url) is None

"""Sign-in without a browser: single use in the database (SQLite and PostgreSQL), signatures,
expiry, redirects kept on this service, the trusted proxy header, delivery to chat contacts."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from app.config import Settings
from app.db import utcnow
from app.oncall.schemas import PersonSpec
from app.paging.message import Message
from app.paging.notifiers.log import LogNotifier
from app.web import auth
from app.web.signin_mail import send_sign_in_link


def runtime(client: TestClient) -> Any:
    return client.app.state.runtime  # type: ignore[attr-defined]


def test_a_sign_in_link_starts_one_session_only(client: TestClient) -> None:
    token = auth.sign_in_token(runtime(client), "alice", utcnow())
    first = client.post(f"/login/{token}", data={"next": "/oncall"}, follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/oncall"
    cookie = first.headers["set-cookie"]
    assert "bridge_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    client.cookies.clear()
    again = client.post(f"/login/{token}", follow_redirects=False)
    assert again.status_code == 403
    assert "set-cookie" not in again.headers


def test_changed_or_expired_links_are_refused(client: TestClient) -> None:
    rt = runtime(client)
    token = auth.sign_in_token(rt, "alice", utcnow())
    body, _, mac = token.rpartition(".")
    changed = f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    old = auth.sign_in_token(rt, "alice", utcnow() - timedelta(minutes=16))
    for bad in (changed, old, "nonsense", "a.b"):
        assert client.get(f"/login/{bad}").status_code == 403
        assert client.post(f"/login/{bad}", follow_redirects=False).status_code == 403


def test_a_session_cookie_is_no_sign_in_link(client: TestClient) -> None:
    """Each purpose has its own key: a sign-in link is not a session, nor the reverse."""
    token = auth.sign_in_token(runtime(client), "alice", utcnow())
    client.cookies.set(auth.COOKIE, token)
    assert client.get("/incidents", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/incidents/3", "/incidents/3"),
        ("/incidents?status=open", "/incidents?status=open"),
        ("https://evil.example/", "/incidents"),
        ("//evil.example/", "/incidents"),
        ("/\\evil.example", "/incidents"),
        ("", "/incidents"),
    ],
)
def test_redirects_after_sign_in_stay_here(target: str, kept: str) -> None:
    assert auth.safe_next(target) == kept


def _request(host: str, headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "client": (host, 5000), "headers": raw, "method": "GET", "path": "/"})


@pytest.mark.parametrize(
    ("proxies", "client_host", "who"),
    [
        ("127.0.0.1", "127.0.0.1", "alice"),
        ("10.0.0.0/8, 192.168.1.1", "10.20.30.40", "alice"),
        ("10.0.0.0/8", "127.0.0.1", None),
        ("", "127.0.0.1", None),
        ("::1", "::1", "alice"),
    ],
)
def test_trusted_header_only_from_trusted_proxies(proxies: str, client_host: str, who: str | None) -> None:
    settings = Settings(trusted_user_header="X-Forwarded-User", trusted_proxies=proxies)
    rt: Any = SimpleNamespace(settings=settings)
    assert auth._from_proxy(rt, _request(client_host, {"X-Forwarded-User": "alice"})) == who


class Recorder:
    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[tuple[Any, Message]] = []

    def send(self, contact: Any, message: Message) -> None:
        self.sent.append((contact, message))


def test_sign_in_link_goes_to_chat_contacts() -> None:
    webhook, slack = Recorder("webhook"), Recorder("slack")
    # The web process's own channels: whoever sends the pages (this process or a worker).
    rt: Any = SimpleNamespace(settings=Settings(), channels=lambda: {"webhook": webhook, "slack": slack})
    person = PersonSpec.model_validate(
        {
            "id": "bob",
            "contact": [
                {"type": "webhook", "url": "http://127.0.0.1:9/bob"},
                {"type": "slack", "webhook_url": "http://127.0.0.1:9/slack"},
            ],
        }
    )
    url = "http://bridge.test/login/abc.def"
    send_sign_in_link(rt, person, url)
    for recorder in (webhook, slack):
        [(_, message)] = recorder.sent
        assert message.links == {"view": url} and url in message.note and message.recipient == "bob"


def test_sign_in_link_reaches_a_person_who_has_only_the_log_channel(caplog: pytest.LogCaptureFixture) -> None:
    """The shipped on-call file pages through the log: its people can sign in on a first run."""
    rt: Any = SimpleNamespace(settings=Settings(), channels=lambda: {"log": LogNotifier()})
    person = PersonSpec.model_validate({"id": "carol", "contact": [{"type": "log"}]})
    url = "http://bridge.test/login/abc.def"
    with caplog.at_level("INFO"):
        send_sign_in_link(rt, person, url)
    assert any(url in record.getMessage() for record in caplog.records), caplog.text


def sign_in(client: TestClient, person: str) -> None:
    token = auth.sign_in_token(runtime(client), person, utcnow())
    assert client.post(f"/login/{token}", follow_redirects=False).status_code == 303


def test_restricted_incidents_stay_hidden_from_people_without_access(client: TestClient) -> None:
    api = "/api/v1/incidents"
    body = {"title": "Denials skew by postcode", "type": "fairness_violation", "severity": "SEV2"}
    restricted = client.post(api, json={**body, "reported_by": "support"}).json()
    assert restricted["restricted"] is True
    ordinary = client.post(api, json={**body, "type": "technical_failure", "reported_by": "support"}).json()
    sign_in(client, "mallory")
    listing = client.get("/incidents")
    assert listing.status_code == 200
    assert f"/incidents/{ordinary['id']}" in listing.text
    assert f"/incidents/{restricted['id']}" not in listing.text
    assert client.get(f"/incidents/{restricted['id']}").status_code == 404
    page = client.get(f"/incidents/{ordinary['id']}").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "the page carries no CSRF token"
    csrf = found.group(1)
    note = client.post(
        f"/incidents/{restricted['id']}/note",
        data={"csrf": csrf, "text": "peek"},
        follow_redirects=False,
    )
    assert note.status_code in (303, 404)
    timeline = client.get(f"{api}/{restricted['id']}").json()["timeline"]
    assert all(e["kind"] != "note" for e in timeline), "a person without access changed it"
    # Granted access, the same person sees it.
    client.post(f"{api}/{restricted['id']}/access", json={"by": "lead", "person": "mallory"})
    assert client.get(f"/incidents/{restricted['id']}").status_code == 200


def test_runbook_pages_list_the_incidents_that_used_them(client: TestClient) -> None:
    api = "/api/v1/incidents"
    body = {"title": "Accuracy fell on a canary", "severity": "SEV3", "reported_by": "support"}
    used = client.post(api, json={**body, "type": "performance_degradation"}).json()
    hidden = client.post(api, json={**body, "type": "fairness_violation", "title": "Hidden one"}).json()
    runbook = used["runbook"]["id"]
    anonymous = client.get(f"/runbooks/{runbook}")
    assert anonymous.status_code == 200
    assert f"/incidents/{used['id']}" not in anonymous.text  # titles only for people signed in
    sign_in(client, "mallory")
    page = client.get(f"/runbooks/{runbook}").text
    assert f'href="/incidents/{used["id"]}"' in page
    fairness_book = hidden["runbook"]["id"]
    assert f"/incidents/{hidden['id']}" not in client.get(f"/runbooks/{fairness_book}").text


def test_the_throttle_counts_links_per_person_in_a_window() -> None:
    throttle = auth.LinkThrottle(limit=3, window=timedelta(minutes=15))
    start = utcnow()
    assert [throttle.allow("alice", start + timedelta(seconds=i)) for i in range(5)] == [True] * 3 + [
        False
    ] * 2
    assert throttle.allow("bob", start) is True  # each person has their own budget
    assert throttle.allow("alice", start + timedelta(minutes=16)) is True  # the window moved on


def test_a_flood_of_sign_in_requests_sends_three_links(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.main import create_app

    (settings.rules_dir / "oncall.yaml").write_text(
        "people:\n"
        "  - id: alice\n"
        "    name: Alice\n"
        "    contact:\n"
        "      - {type: email, address: alice@example.com}\n"
    )
    sent: list[str] = []
    monkeypatch.setattr(auth, "send_sign_in_link", lambda rt, spec, url: sent.append(spec.id))
    monkeypatch.setattr(auth, "THROTTLE", auth.LinkThrottle())
    with TestClient(create_app(settings)) as client:
        answers = [client.post("/login", data={"person": "alice"}) for _ in range(6)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1  # the same answer: nothing tells the throttle is on
    assert sent == ["alice"] * 3

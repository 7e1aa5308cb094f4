"""Signed action links: bound to incident, recipient and action, expiring, and tamper-evident."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.paging.links import ACTIONS, BadLink, ExpiredLink, LinkClaims, _key, links_for, sign, verify

SECRET = "a-real-secret-for-the-test-suite-0123"
NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(hours=24)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def token(action: str = "acknowledge", incident_id: int = 42, recipient: str = "alice") -> str:
    return sign(SECRET, incident_id, recipient, action, EXPIRES)


def flip(text: str, index: int) -> str:
    """`text` with the character at `index` replaced by another base64url character."""
    replacement = "B" if text[index] == "A" else "A"
    return text[:index] + replacement + text[index + 1 :]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("action", ACTIONS)
def test_round_trip(action: str) -> None:
    claims = verify(SECRET, token(action, 7, "bob@example.com"), NOW)

    assert claims == LinkClaims(incident_id=7, recipient="bob@example.com", action=action, expires_at=EXPIRES)


def test_token_is_url_safe() -> None:
    value = sign(SECRET, 2**40, "Zoë <zoe@example.com>", "resolve", EXPIRES)

    assert value.count(".") == 1
    assert set(value) <= set(B64URL + ".")
    assert verify(SECRET, value, NOW).recipient == "Zoë <zoe@example.com>"


def test_valid_until_one_second_before_expiry() -> None:
    assert verify(SECRET, token(), EXPIRES - timedelta(seconds=1)).action == "acknowledge"


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=30)])
def test_expired(late: timedelta) -> None:
    with pytest.raises(ExpiredLink) as excinfo:
        verify(SECRET, token(), EXPIRES + late)
    assert excinfo.value.status_code == 410
    assert excinfo.value.code == "expired_link"


@pytest.mark.parametrize("part", ["payload", "signature"])
@pytest.mark.parametrize("where", ["first", "middle", "second to last"])
def test_one_character_changed(part: str, where: str) -> None:
    payload, mac = token().split(".")
    target = payload if part == "payload" else mac
    index = {"first": 0, "middle": len(target) // 2, "second to last": len(target) - 2}[where]
    tampered = f"{flip(payload, index)}.{mac}" if part == "payload" else f"{payload}.{flip(mac, index)}"

    with pytest.raises(BadLink) as excinfo:
        verify(SECRET, tampered, NOW)
    assert excinfo.value.status_code == 403
    assert excinfo.value.code == "bad_link"


@pytest.mark.parametrize(
    "change",
    [{"i": 43}, {"r": "mallory"}, {"a": "resolve"}, {"e": int((EXPIRES + timedelta(days=365)).timestamp())}],
)
def test_rewritten_claims_keep_no_signature(change: dict[str, object]) -> None:
    payload, mac = token().split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(change)
    forged = b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())

    with pytest.raises(BadLink):
        verify(SECRET, f"{forged}.{mac}", NOW)


def test_signature_of_another_token_is_refused() -> None:
    payload, _ = token("acknowledge").split(".")
    _, other_mac = token("resolve").split(".")

    with pytest.raises(BadLink):
        verify(SECRET, f"{payload}.{other_mac}", NOW)


def test_another_secret_is_refused() -> None:
    other = sign("another-secret-of-some-other-install", 42, "alice", "acknowledge", EXPIRES)

    with pytest.raises(BadLink):
        verify(SECRET, other, NOW)
    with pytest.raises(BadLink):
        verify("another-secret-of-some-other-install", token(), NOW)


def test_a_plain_hmac_with_the_secret_is_not_a_valid_signature() -> None:
    """Links use a key derived from the secret, so other HMACs made with it are worthless here."""
    payload, _ = token().split(".")
    mac = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).digest()

    with pytest.raises(BadLink):
        verify(SECRET, f"{payload}.{b64(mac)}", NOW)


def test_every_altered_signature_is_refused() -> None:
    """Only the canonical spelling verifies: base64 decoders ignore the spare bits of the last
    character and characters outside the alphabet, which must not let altered tokens through."""
    payload, mac = token().split(".")
    accepted = []
    for index in range(len(mac)):
        for char in B64URL:
            if char != mac[index]:
                altered = f"{payload}.{mac[:index]}{char}{mac[index + 1 :]}"
                try:
                    verify(SECRET, altered, NOW)
                except BadLink:
                    continue
                accepted.append(altered)
    for suffix in ("=", "!!!!", "...."):
        try:
            verify(SECRET, f"{payload}.{mac}{suffix}", NOW)
        except BadLink:
            continue
        accepted.append(f"{payload}.{mac}{suffix}")
    assert accepted == []


def _signed_body(body: object) -> str:
    """A token with a valid signature over an arbitrary payload, as if the secret had leaked."""
    payload = b64(json.dumps(body).encode())
    mac = hmac.new(_key(SECRET), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{b64(mac)}"


@pytest.mark.parametrize(
    "body",
    [
        {"i": 1, "r": "alice", "a": "delete", "e": int(EXPIRES.timestamp())},
        {"i": "x", "r": "alice", "a": "view", "e": int(EXPIRES.timestamp())},
        {"r": "alice", "a": "view", "e": int(EXPIRES.timestamp())},
        {"i": 1, "r": "alice", "a": "view", "e": None},
        [1, 2, 3],
        "text",
    ],
)
def test_well_signed_but_malformed_claims_are_bad_links(body: object) -> None:
    with pytest.raises(BadLink):
        verify(SECRET, _signed_body(body), NOW)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "abc",
        "abc.",
        ".abc",
        "a.b.c",
        "a.b",
        "!!!.@@@",
        "not base64 at all",
        "é.ü",
        "\x00.\x00",
        "eyJhIjoidmlldyJ9.",
        "eyJhIjoidmlldyJ9.====",
        "A" * 5000 + "." + "B" * 5000,
    ],
)
def test_garbage_is_a_bad_link(garbage: str) -> None:
    with pytest.raises(BadLink):
        verify(SECRET, garbage, NOW)


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_property_arbitrary_text_is_only_ever_a_bad_link(text: str) -> None:
    try:
        verify(SECRET, text, NOW)
    except (BadLink, ExpiredLink):
        return
    pytest.fail(f"{text!r} verified")


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=B64URL + ".="), st.integers(0, 3))
def test_property_base64_lookalikes_are_only_ever_bad_links(text: str, cut: int) -> None:
    payload = token().split(".")[0]
    for candidate in (text, f"{payload}.{text}", f"{text}.{payload}"[: len(text) + cut]):
        with pytest.raises(BadLink):
            verify(SECRET, candidate, NOW)


@pytest.mark.parametrize("action", ["delete", "ack", "", "Acknowledge"])
def test_unknown_action_is_refused_at_sign_time(action: str) -> None:
    with pytest.raises(ValueError, match="unknown link action"):
        sign(SECRET, 1, "alice", action, EXPIRES)


def test_links_for() -> None:
    links = links_for("http://bridge.test", SECRET, 42, "alice", NOW, timedelta(hours=24))

    assert set(links) == {"acknowledge", "resolve", "view"}
    assert len(set(links.values())) == 3
    for action, url in links.items():
        assert url.startswith("http://bridge.test/a/")
        value = url.removeprefix("http://bridge.test/a/")
        assert "/" not in value
        assert verify(SECRET, value, NOW) == LinkClaims(42, "alice", action, NOW + timedelta(hours=24))
        with pytest.raises(BadLink):
            verify("some-other-secret-entirely-0123456", value, NOW)
        with pytest.raises(ExpiredLink):
            verify(SECRET, value, NOW + timedelta(hours=24))


def test_links_for_is_bound_to_the_recipient_and_incident() -> None:
    alice = links_for("https://bridge.example.com", SECRET, 42, "alice", NOW, timedelta(minutes=30))
    bob = links_for("https://bridge.example.com", SECRET, 42, "bob", NOW, timedelta(minutes=30))
    other = links_for("https://bridge.example.com", SECRET, 43, "alice", NOW, timedelta(minutes=30))

    assert alice["view"] != bob["view"] != other["view"]
    claims = verify(SECRET, bob["resolve"].rsplit("/", 1)[1], NOW)
    assert (claims.incident_id, claims.recipient, claims.action) == (42, "bob", "resolve")
    assert verify(SECRET, other["view"].rsplit("/", 1)[1], NOW).incident_id == 43

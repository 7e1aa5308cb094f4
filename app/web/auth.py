"""Who is using the pages: a single sign-on proxy's header, or a session started by a sign-in link.

A sign-in link is mailed (or posted to chat) to the person's own contacts; it is signed, lives
15 minutes and works once. Opening it only shows a button: mail scanners fetch every link, and
only the button's POST starts the session. The session is a signed cookie; every form carries a
CSRF token derived from the session's random id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from app.api.deps import Runtime, RuntimeDep
from app.db import Database, utcnow
from app.errors import Unavailable
from app.models import UsedSignInLink
from app.web.rendering import TEMPLATES
from app.web.signin_mail import send_sign_in_link

router = APIRouter(tags=["sign-in"], include_in_schema=False)

COOKIE = "bridge_session"
SESSION_LIFETIME = timedelta(hours=12)
LINK_LIFETIME = timedelta(minutes=15)
MAX_PERSON = 200


@dataclass(frozen=True)
class Person:
    """The signed-in person; `incident_id` set when a page link signed them in for one incident."""

    id: str
    session_id: str
    incident_id: int | None = None
    via_proxy: bool = False

    def may_open(self, incident_id: int) -> bool:
        return self.incident_id is None or self.incident_id == incident_id


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(rt: Runtime, purpose: bytes) -> bytes:
    # Each purpose has its own key: a signature made for one is worthless for another.
    base = hmac.new(rt.keys.links.encode(), b"incident-bridge/sign-in/v1", hashlib.sha256).digest()
    return hmac.new(base, purpose, hashlib.sha256).digest()


def _seal(key: bytes, claims: dict[str, Any]) -> str:
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def _open(key: bytes, token: str) -> dict[str, Any] | None:
    body, _, mac = token.rpartition(".")
    if not body or len(token) > 2000:
        return None
    expected = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        claims = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
        return None
    if claims["exp"] < utcnow().timestamp():
        return None
    return claims


# --- the sign-in link ---------------------------------------------------------------------------


def sign_in_token(rt: Runtime, person: str, now: datetime) -> str:
    claims = {"p": person, "exp": int((now + LINK_LIFETIME).timestamp()), "j": secrets.token_urlsafe(18)}
    return _seal(_key(rt, b"link"), claims)


def _link_claims(rt: Runtime, token: str) -> dict[str, Any] | None:
    claims = _open(_key(rt, b"link"), token)
    if claims is None or not isinstance(claims.get("p"), str) or not isinstance(claims.get("j"), str):
        return None
    return claims


# --- the session --------------------------------------------------------------------------------


def start_session(rt: Runtime, response: Response, person: str, incident_id: int | None = None) -> None:
    """Set the session cookie on `response` (a fresh random session id every time)."""
    expires = utcnow() + SESSION_LIFETIME
    claims: dict[str, Any] = {"p": person, "exp": int(expires.timestamp()), "s": secrets.token_urlsafe(18)}
    if incident_id is not None:
        claims["i"] = incident_id
    response.set_cookie(
        COOKIE,
        _seal(_key(rt, b"session"), claims),
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=rt.settings.public_url.startswith("https://"),
        path="/",
    )


def _proxies(rt: Runtime) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in rt.settings.trusted_proxies.split(","):
        if item.strip():
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
    return networks


def _from_proxy(rt: Runtime, request: Request) -> str | None:
    header = rt.settings.trusted_user_header
    if not header or request.client is None:
        return None
    try:
        address = ipaddress.ip_address(request.client.host)
    except ValueError:
        return None
    if not any(address in network for network in _proxies(rt)):
        return None
    person = request.headers.get(header, "").strip()
    return person[:MAX_PERSON] or None


def signed_in(request: Request) -> Person | None:
    """The person using these pages, or None."""
    rt: Runtime = request.app.state.runtime
    proxied = _from_proxy(rt, request)
    if proxied is not None:
        return Person(id=proxied, session_id=f"proxy:{proxied}", via_proxy=True)
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    claims = _open(_key(rt, b"session"), cookie)
    if claims is None or not isinstance(claims.get("p"), str) or not isinstance(claims.get("s"), str):
        return None
    incident = claims.get("i")
    return Person(
        id=claims["p"], session_id=claims["s"], incident_id=incident if isinstance(incident, int) else None
    )


def current_person(request: Request) -> str | None:
    """The id of the signed-in person, or None."""
    person = signed_in(request)
    return person.id if person else None


def _login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def require_person(request: Request) -> Person:
    """The signed-in person; anyone else is sent to /login, and back here afterwards."""
    person = signed_in(request)
    if person is None:
        raise HTTPException(303, "sign in first", headers={"Location": _login_url(request)})
    return person


PersonDep = Annotated[Person, Depends(require_person)]


# --- CSRF ---------------------------------------------------------------------------------------


def csrf_token(rt: Runtime, person: Person) -> str:
    return _b64(hmac.new(_key(rt, b"csrf"), person.session_id.encode(), hashlib.sha256).digest())


async def form_of(request: Request) -> dict[str, str]:
    """The fields of a urlencoded form (the pages post nothing else; the last of a name wins)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True, max_num_fields=100))
    except (UnicodeDecodeError, ValueError):
        return {}


async def check_csrf(request: Request) -> None:
    """Every POST of the pages carries the session's CSRF token (403 otherwise)."""
    rt: Runtime = request.app.state.runtime
    person = signed_in(request)
    form = await form_of(request)
    sent = form.get("csrf")
    if person is None or not isinstance(sent, str) or not hmac.compare_digest(sent, csrf_token(rt, person)):
        raise HTTPException(403, "this form has expired or did not come from this service; reload the page")


def same_origin(request: Request) -> None:
    """A browser's POST from another site is refused (no one is signed in as someone else)."""
    rt: Runtime = request.app.state.runtime
    # Pages send no Referer, so a browser's Origin is "null"; Sec-Fetch-Site still tells.
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    foreign_site = site is not None and site not in ("same-origin", "none")
    foreign_origin = origin not in (None, "null", rt.settings.public_url, _origin_of(request))
    if foreign_site or foreign_origin:
        raise HTTPException(403, "this form did not come from this service")


def _origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def safe_next(target: str | None) -> str:
    """Only a path of this service: never another site (an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/incidents"
    parts = urlsplit(target)
    return "/incidents" if parts.scheme or parts.netloc else target


# --- pages --------------------------------------------------------------------------------------


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with the header; the signed-in person and the CSRF token are there for every form."""
    rt: Runtime = request.app.state.runtime
    person = signed_in(request)
    context.setdefault("title", "incident-bridge")
    html = TEMPLATES.get_template(template).render(
        person=person, csrf=csrf_token(rt, person) if person else "", **context
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/incidents") -> HTMLResponse:
    """Ask for the person's id in the on-call file."""
    return render(request, "login.html", next=safe_next(next), title="Sign in")


class LinkThrottle:
    """At most `limit` sign-in links per person in `window` (in this process): a form anyone can
    post must not become a way to flood someone's phone. Extra requests get the same answer."""

    def __init__(self, limit: int = 3, window: timedelta = timedelta(minutes=15)) -> None:
        self.limit, self.window = limit, window
        self._sent: dict[str, list[datetime]] = {}
        self._lock = threading.Lock()

    def allow(self, person: str, now: datetime) -> bool:
        with self._lock:
            recent = [at for at in self._sent.get(person, []) if now - at < self.window]
            if len(recent) >= self.limit:
                self._sent[person] = recent
                return False
            self._sent[person] = [*recent, now]
            if len(self._sent) > 10_000:  # bounded: forget people with nothing recent
                self._sent = {p: t for p, t in self._sent.items() if t and now - t[-1] < self.window}
            return True


THROTTLE = LinkThrottle()


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(same_origin)])
async def request_link(request: Request, rt: RuntimeDep, background: BackgroundTasks) -> HTMLResponse:
    """Send a sign-in link to the person's own contacts; the answer is the same for any id."""
    form = await form_of(request)
    person, next = form.get("person", "").strip()[:MAX_PERSON], form.get("next", "/incidents")
    spec = rt.catalog.current.oncall.people.get(person)
    if spec is not None and THROTTLE.allow(person, utcnow()):
        token = sign_in_token(rt, person, utcnow())
        url = f"{rt.settings.public_url}/login/{token}?next={quote(safe_next(next), safe='')}"
        background.add_task(send_sign_in_link, rt, spec, url)
    notice = "If that id is in the on-call file, a sign-in link is on its way. It works once, for 15 minutes."
    return render(request, "login.html", next=safe_next(next), notice=notice, sent=True, title="Sign in")


@router.get("/login/{token}", response_class=HTMLResponse)
def confirm_link(request: Request, token: str, rt: RuntimeDep, next: str = "/incidents") -> HTMLResponse:
    """The sign-in link's page: a button; nothing happens until it is pressed."""
    claims = _link_claims(rt, token)
    if claims is None:
        notice = "This sign-in link is not valid or has expired. Ask for a new one."
        return render(request, "login.html", 403, next=safe_next(next), notice=notice, error=True)
    return render(
        request, "confirm.html", token=token, who=claims["p"], next=safe_next(next), title="Sign in"
    )


def _use_up(db: Database, token_id: str, person: str) -> None:
    # The unique token id makes a second use fail in the database, whichever replica sees it.
    with db.session(write=True) as session:
        session.add(UsedSignInLink(token_id=token_id, person=person, used_at=utcnow()))


@router.post(
    "/login/{token}", response_class=HTMLResponse, response_model=None, dependencies=[Depends(same_origin)]
)
async def use_link(request: Request, token: str, rt: RuntimeDep) -> Response:
    """The button was pressed: the link is used up and a session starts."""
    next = (await form_of(request)).get("next", "/incidents")
    claims = _link_claims(rt, token)
    if claims is None:
        notice = "This sign-in link is not valid or has expired. Ask for a new one."
        return render(request, "login.html", 403, next=safe_next(next), notice=notice, error=True)
    if rt.db is None:
        raise Unavailable("the service is starting")
    try:
        await run_in_threadpool(_use_up, rt.db, claims["j"], claims["p"])
    except IntegrityError:
        notice = "This sign-in link was already used. Ask for a new one."
        return render(request, "login.html", 403, next=safe_next(next), notice=notice, error=True)
    response = RedirectResponse(safe_next(next), status_code=303)
    start_session(rt, response, claims["p"])
    return response


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout() -> RedirectResponse:
    """End the session."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response

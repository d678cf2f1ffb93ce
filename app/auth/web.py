"""Accounts on a Flask server: flask-login, one before_request guard, login/logout pages, API tokens.

Every route is protected except the login page, /healthz and static files: anonymous page loads get a
302 to /login?next=..., anonymous API calls and Dash callbacks get a 401 JSON.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote, urlparse

from flask import Flask, Response, redirect, request, session
from flask_login import AnonymousUserMixin, LoginManager, current_user, login_user, logout_user

from omnidash.auth.state import AuthState, default_state_path
from omnidash.auth.throttle import LoginThrottle
from omnidash.auth.users import User, UsersFile

PUBLIC_PATHS = ("/login", "/healthz", "/_favicon.ico", "/favicon.ico")
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")
REMEMBER_DAYS = 30
# How long a signed-out session id stays refused: longer than any cookie carrying it lives (Flask's session
# signature is honoured for 31 days, the remember-me cookie for 30).
REVOKED_FOR = 32 * 24 * 3600


@dataclass
class AuthConfig:
    """What every Flask app of one deployment shares: the users file, the throttle, cookie policy, and the
    sign-in state every process shares (revoked sessions, failed sign-ins; `omnidash.auth.state`)."""

    users: UsersFile
    secret_key: str | bytes
    https: bool = False
    throttle: LoginThrottle | None = None
    state: AuthState | None = None

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = AuthState(default_state_path(self.users.path))  # AuthStateError when not writable
        if self.throttle is None:
            self.throttle = LoginThrottle(state=self.state)


class SessionUser:
    """The flask-login user object of a users-file entry."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: User, via_token: bool = False, sid: str = "") -> None:
        self.user = user
        self.name = user.name
        self.role = user.role
        self.via_token = via_token
        self.sid = sid  # one per sign-in; sign-out revokes it in the shared state

    def get_id(self) -> str:
        # What the session and the remember-me cookie carry. The epoch changes with the password (signing
        # the user out everywhere); the sid is this sign-in's own, revoked by its sign-out.
        return f"{self.user.epoch}:{self.sid}:{self.user.name}"


class Anonymous(AnonymousUserMixin):
    name = ""
    role = None


def current_role() -> str | None:
    """The role of the user of the current request, None when nobody is signed in."""
    return getattr(current_user, "role", None) if current_user.is_authenticated else None


def install_auth(server: Flask, auth: AuthConfig) -> None:
    """Protect every route of `server` and add /login and /logout."""
    server.secret_key = auth.secret_key
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=auth.https,
        SESSION_COOKIE_NAME="omnidash_session",
        REMEMBER_COOKIE_NAME="omnidash_remember",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=auth.https,
        REMEMBER_COOKIE_DURATION=60 * 60 * 24 * REMEMBER_DAYS,
    )
    manager = LoginManager(server)
    manager.anonymous_user = Anonymous
    manager.session_protection = "basic"
    server.extensions["omnidash_auth"] = auth

    @manager.user_loader
    def load_user(user_id: str) -> SessionUser | None:
        epoch, sid, name = (user_id.split(":", 2) + ["", ""])[:3]
        user = auth.users.get(name)
        if user is None or not sid or not hmac.compare_digest(user.epoch, epoch) or auth.state.is_revoked(sid):
            return None
        return SessionUser(user, sid=sid)

    @manager.request_loader
    def load_from_token(req: Any) -> SessionUser | None:
        header = req.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        user = auth.users.user_for_token(token.strip())
        return SessionUser(user, via_token=True) if user else None

    @server.before_request
    def require_login() -> Response | None:
        path = request.path
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or request.method == "OPTIONS":
            return None
        if current_user.is_authenticated:
            return None
        if wants_json(path):
            return Response('{"error": "authentication required"}', status=401, mimetype="application/json",
                            headers={"WWW-Authenticate": 'Bearer realm="omnidash"'})
        target = request.script_root + request.full_path.rstrip("?")
        return redirect(f"{request.script_root}/login?next={quote(target, safe='/')}", code=302)

    @server.route("/login", methods=["GET", "POST"])
    def login() -> Response | str:
        next_url = safe_next(request.values.get("next"), request.script_root)
        if request.method == "GET":
            if current_user.is_authenticated:
                return redirect(next_url)
            return login_page(next_url, "")
        if not hmac.compare_digest(str(session.get("login_csrf", "")), request.form.get("csrf", "")):
            return login_page(next_url, "Your login form expired; please try again.", 400)
        name = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        # The client's address as the WSGI server computed it: behind a trusted proxy (--https,
        # --trusted-proxy) that is the X-Forwarded-For address, so users behind one proxy are kept apart.
        keys = [("user", name.lower()), ("addr", request.remote_addr or "?")]
        wait = auth.throttle.attempt(keys)  # check and record in one step: no race past the limit
        if wait > 0:
            return login_page(next_url, f"Too many failed sign-ins. Try again in {int(wait) + 1} s.", 429,
                              {"Retry-After": str(int(wait) + 1)}, name)
        user = auth.users.authenticate(name, password)
        if user is None:
            return login_page(next_url, "Wrong user name or password.", 401, name=name)
        auth.throttle.succeeded(keys)
        session.clear()  # a fresh session for the signed-in user (no fixation)
        login_user(SessionUser(user, sid=secrets.token_urlsafe(18)), remember=request.form.get("remember") == "on")
        csrf_token()
        return redirect(next_url)

    @server.route("/logout", methods=["GET", "POST"])
    def logout() -> Response:
        """GET asks (a link or a prefetch never signs anyone out); POST with the CSRF token signs out."""
        if request.method == "GET":
            return logout_page("")
        if not hmac.compare_digest(str(session.get("csrf", "")), request.form.get("csrf", "")):
            return logout_page("Your sign-out form expired; please try again.", 400)
        sid = getattr(current_user, "sid", "")
        if sid:
            auth.state.revoke(sid, REVOKED_FOR)  # every process refuses this session and its remember cookie
        session.clear()
        logout_user()  # after clear(): it marks the remember-me cookie for deletion in the session
        return redirect(f"{request.script_root}/login")


def csrf_token() -> str:
    """This session's token for state-changing forms (the sign-out form)."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def wants_json(path: str) -> bool:
    """API calls, Dash callbacks and XHR get 401 JSON instead of a redirect to an HTML page."""
    if path.startswith(("/api/", "/_dash-", "/_reload-hash")) or path == "/api":
        return True
    if request.method not in ("GET", "HEAD"):
        return True
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return True
    accept = request.accept_mimetypes
    return accept.best == "application/json"


def safe_next(target: str | None, script_root: str) -> str:
    """A local path to go to after login; anything pointing to another site becomes the home page."""
    home = (script_root or "") + "/"
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return home
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or any(ord(ch) < 32 for ch in target):
        return home
    return target


def account_page(title: str, action: str, body: str, status: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    """A plain HTML page with one POST form to `action` (sign in, sign out), styled by /assets/base.css,
    never cached or framed."""
    root = escape(request.script_root)
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · omnidash</title><link rel="stylesheet" href="{root}/assets/base.css"></head>
<body><main class="login-page" style="max-width:22rem;margin:12vh auto;padding:2rem">
<h1 class="brand">omnidash</h1>
<form method="post" action="{root}/{action}" class="{action}-form" style="display:flex;flex-direction:column;gap:.75rem">
{body}
</form></main></body></html>"""
    response = Response(html, status=status, mimetype="text/html", headers=headers or {})
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def error_text(message: str) -> str:
    return f'<p class="login-error" role="alert">{escape(message)}</p>' if message else ""


def login_page(next_url: str, message: str, status: int = 200, headers: dict[str, str] | None = None,
               name: str = "") -> Response:
    """The sign-in form."""
    token = session.get("login_csrf") or secrets.token_urlsafe(24)
    session["login_csrf"] = token
    body = f"""{error_text(message)}
<input type="hidden" name="csrf" value="{escape(token)}">
<input type="hidden" name="next" value="{escape(next_url)}">
<label>User name <input name="username" autocomplete="username" required autofocus value="{escape(name)}"
 style="width:100%"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required
 style="width:100%"></label>
<label><input name="remember" type="checkbox"> Remember me on this computer</label>
<button type="submit">Sign in</button>"""
    return account_page("Sign in", "login", body, status, headers)


def logout_page(message: str, status: int = 200) -> Response:
    """Asks before signing out: a POST form with the session's CSRF token."""
    who = escape(f" as {current_user.name}") if current_user.is_authenticated else ""
    body = f"""{error_text(message)}
<p>Sign out of omnidash{who}?</p>
<input type="hidden" name="csrf" value="{escape(csrf_token())}">
<button type="submit">Sign out</button>
<a href="{escape(request.script_root)}/">Cancel</a>"""
    return account_page("Sign out", "logout", body, status)

"""The users file (TOML): werkzeug password hashes, a role per user, hashed API tokens. No dash, no flask."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

ROLES = ("viewer", "editor", "admin")
TOKEN_PREFIX = "odt_"
_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
# Checked against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password")


class UsersFileError(Exception):
    """The users file is unreadable or malformed, or a name/role is invalid (one-line message)."""


@dataclass
class User:
    name: str
    role: str
    password_hash: str
    tokens: list[str] = field(default_factory=list)  # "sha256:<hex>" of each token
    epoch: str = ""  # changes with the password: invalidates sessions and remember-me cookies

    def can(self, role: str) -> bool:
        """True when this user's role is `role` or above (viewer < editor < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def token_digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise UsersFileError(f"invalid user name {name!r}: use 1-64 letters, digits, . _ @ -")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsersFileError(f"invalid role {role!r}: one of {', '.join(ROLES)}")
    return role


class UsersFile:
    """A users.toml, re-read when it changes on disk (so `omnidash users ...` applies without restart)."""

    def __init__(self, path: str | os.PathLike[str], must_exist: bool = True) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._users: dict[str, User] = {}
        if must_exist and not self.path.exists():
            raise UsersFileError(f"users file {self.path} does not exist (create it with `omnidash users add`)")
        self.reload()

    # -- reading -----------------------------------------------------------------
    def reload(self) -> None:
        """Read the file again if it changed."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._users, self._mtime = {}, None
            return
        with self._lock:
            if mtime == self._mtime:
                return
            self._users = self._parse()
            self._mtime = mtime

    def _parse(self) -> dict[str, User]:
        try:
            data = tomllib.loads(self.path.read_text())
        except OSError as e:
            raise UsersFileError(f"cannot read users file {self.path}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise UsersFileError(f"users file {self.path} is not valid TOML: {e}") from None
        users: dict[str, User] = {}
        for name, entry in (data.get("users") or {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("password"), str):
                raise UsersFileError(f"users file {self.path}: user {name!r} has no password hash")
            role = str(entry.get("role", "viewer"))
            if role not in ROLES:
                raise UsersFileError(f"users file {self.path}: user {name!r} has an unknown role {role!r}")
            tokens = [str(t) for t in entry.get("tokens", []) if isinstance(t, str)]
            users[name] = User(name, role, entry["password"], tokens, str(entry.get("epoch", "")))
        return users

    def get(self, name: str) -> User | None:
        self.reload()
        return self._users.get(name)

    def names(self) -> list[str]:
        self.reload()
        return sorted(self._users)

    def __len__(self) -> int:
        self.reload()
        return len(self._users)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches; constant work whether or not the user exists."""
        user = self.get(name)
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        return user if check_password_hash(user.password_hash, password) else None

    def user_for_token(self, token: str) -> User | None:
        digest = token_digest(token)
        self.reload()
        for user in self._users.values():
            if any(hmac.compare_digest(digest, t) for t in user.tokens):
                return user
        return None

    # -- writing (the `omnidash users` command) ------------------------------------
    def add(self, name: str, password: str, role: str = "viewer") -> None:
        check_name(name)
        check_role(role)
        self.reload()
        if name in self._users:
            raise UsersFileError(f"user {name!r} already exists (use `omnidash users passwd`)")
        self._users[name] = User(name, role, hash_password(password), [], secrets.token_hex(8))
        self._write()

    def remove(self, name: str) -> None:
        self.reload()
        if self._users.pop(name, None) is None:
            raise UsersFileError(f"no user {name!r} in {self.path}")
        self._write()

    def set_password(self, name: str, password: str) -> None:
        user = self._require(name)
        user.password_hash = hash_password(password)
        user.epoch = secrets.token_hex(8)  # logs out every session of this user
        self._write()

    def set_role(self, name: str, role: str) -> None:
        user = self._require(name)
        user.role = check_role(role)
        self._write()

    def new_token(self, name: str) -> str:
        """Create an API token for a user; only its hash is stored, the token is returned once."""
        user = self._require(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        user.tokens.append(token_digest(token))
        self._write()
        return token

    def revoke_tokens(self, name: str) -> int:
        user = self._require(name)
        count = len(user.tokens)
        user.tokens = []
        self._write()
        return count

    def _require(self, name: str) -> User:
        self.reload()
        user = self._users.get(name)
        if user is None:
            raise UsersFileError(f"no user {name!r} in {self.path}")
        return user

    def _write(self) -> None:
        """Atomically replace the file (temp file + rename), readable by its owner only."""
        lines = ["# omnidash users: manage with `omnidash users add|remove|passwd|role|token FILE NAME`", ""]
        for user in sorted(self._users.values(), key=lambda u: u.name):
            lines.append(f"[users.{json.dumps(user.name)}]")
            lines.append(f"role = {json.dumps(user.role)}")
            lines.append(f"password = {json.dumps(user.password_hash)}")
            lines.append(f"epoch = {json.dumps(user.epoch)}")
            lines.append(f"tokens = [{', '.join(json.dumps(t) for t in user.tokens)}]")
            lines.append("")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write("\n".join(lines))
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._mtime = None


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise UsersFileError("the password must have at least 8 characters")
    return generate_password_hash(password)  # werkzeug's scrypt

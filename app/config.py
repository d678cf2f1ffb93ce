"""Deployment configuration: sources (MongoDB URIs or folders) with URL prefixes and per-source settings.

Read from a TOML file (`omnidash serve --config omnidash.toml`), from Omniboard's `OMNIBOARD_CONFIG`
JSON as is, or built from command-line options. No dash imports here.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from omnidash.context import Settings


class ConfigError(Exception):
    """The configuration file or the options are invalid (one-line message)."""


SETTING_NAMES = {
    "timezone": "timezone",
    "refresh_interval": "refresh_interval",
    "auto_refresh_interval": "refresh_interval",  # Omniboard's name
    "probably_dead_after": "probably_dead_after",
    "rows_per_page": "page_size",
    "page_size": "page_size",
    "initial_fetch_size": "page_size",  # Omniboard's name
    "title": "title",
}
_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")


@dataclass
class SourceConfig:
    """One data source mounted under its own URL prefix."""

    key: str
    location: str  # a mongodb:// URI or a folder path
    path: str = ""  # URL prefix below the global url_prefix: "" or "/db1"
    runs_collection: str = "runs"
    metrics_collection: str = "metrics"
    title: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_mongo(self) -> bool:
        return self.location.startswith(("mongodb://", "mongodb+srv://"))


@dataclass
class AppConfig:
    """Everything `omnidash serve` and `omnidash.wsgi` need to build the WSGI application."""

    sources: list[SourceConfig]
    url_prefix: str = ""  # "" or "/omnidash"
    users_file: str | None = None
    secret_key: str | None = None
    secret_key_file: str | None = None
    read_only: bool = False
    https: bool = False
    settings: dict[str, Any] = field(default_factory=dict)  # defaults for every source

    def settings_for(self, source: SourceConfig) -> Settings:
        """The Settings object of one source: defaults, then [settings], then the source's own."""
        values: dict[str, Any] = {}
        for raw in (self.settings, source.settings):
            for name, value in raw.items():
                if name not in SETTING_NAMES:
                    raise ConfigError(f"unknown setting {name!r} (known: {', '.join(sorted(SETTING_NAMES))})")
                values[SETTING_NAMES[name]] = value
        settings = Settings()
        try:
            for attr in ("refresh_interval", "probably_dead_after"):
                if attr in values:
                    values[attr] = float(values[attr])  # Omniboard stores "30" as a string
            if "page_size" in values:
                values["page_size"] = int(values["page_size"])
        except (TypeError, ValueError) as e:
            raise ConfigError(f"bad setting value in source {source.key!r}: {e}") from None
        if "timezone" in values:
            check_timezone(str(values["timezone"]))
        settings = replace(settings, **values)
        settings.read_only = self.read_only
        settings.url_prefix = self.mount_path(source) + "/"
        if not settings.title or settings.title == "omnidash":
            settings.title = "omnidash" if len(self.sources) == 1 else f"omnidash · {source.title or source.key}"
        return settings

    def mount_path(self, source: SourceConfig) -> str:
        """The absolute URL path of a source, without the trailing slash ("" for the root)."""
        return self.url_prefix + source.path


def check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown timezone {name!r}") from None


def normalize_prefix(prefix: str | None, what: str = "--url-prefix") -> str:
    """'/omnidash/' -> '/omnidash'; '' and '/' -> ''. Rejects anything that is not a plain path."""
    prefix = (prefix or "").strip()
    if prefix in ("", "/"):
        return ""
    if not prefix.startswith("/"):
        prefix = "/" + prefix
    prefix = prefix.rstrip("/")
    if not _PREFIX_RE.match(prefix):
        raise ConfigError(f"{what} must be a plain URL path like /omnidash, not {prefix!r}")
    return prefix


SECRET_KEY_MIN_CHARS = 32  # a text key (e.g. secrets.token_hex(16) or longer)
SECRET_KEY_MIN_BYTES = 16  # a key file of raw random bytes (e.g. `head -c 32 /dev/urandom`)


def secret_key_too_short(where: str) -> ConfigError:
    """The one message every too-short session secret gets, wherever it came from."""
    return ConfigError(
        f"the secret key {where} is too short: use at least {SECRET_KEY_MIN_CHARS} characters (e.g. `python -c "
        f"'import secrets; print(secrets.token_hex(32))'`) or a key file of at least {SECRET_KEY_MIN_BYTES} "
        f"random bytes")


def check_secret_key(key: str | bytes, where: str) -> str | bytes:
    """One rule for every way in: 32+ characters of text, or 16+ raw bytes that are not text (a key file)."""
    if isinstance(key, bytes):
        try:
            text = key.decode("utf-8")
        except UnicodeDecodeError:
            if len(key) < SECRET_KEY_MIN_BYTES:
                raise secret_key_too_short(where) from None
            return key
        if not text.strip().isprintable() and len(key) >= SECRET_KEY_MIN_BYTES:
            return key  # random bytes that happen to decode as UTF-8
        key = text.strip()
    if len(key) < SECRET_KEY_MIN_CHARS:
        raise secret_key_too_short(where)
    return key


def read_secret_key(config: AppConfig) -> str | bytes | None:
    """The session secret from OMNIDASH_SECRET_KEY, the config, or a file; None when there is none.

    Every source obeys `check_secret_key` (a ConfigError names the source).
    """
    if os.environ.get("OMNIDASH_SECRET_KEY"):
        return check_secret_key(os.environ["OMNIDASH_SECRET_KEY"], "in OMNIDASH_SECRET_KEY")
    if config.secret_key:
        return check_secret_key(config.secret_key, "of the config")
    path = config.secret_key_file or os.environ.get("OMNIDASH_SECRET_KEY_FILE")
    if path:
        try:
            key = Path(path).read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read the secret key file {path}: {e.strerror}") from None
        return check_secret_key(key, f"in {path}")
    return None


# -- TOML ---------------------------------------------------------------------------
def load_toml_config(path: str | Path) -> AppConfig:
    """Read an omnidash TOML config file (see README "Deploy for a team")."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path} is not valid TOML: {e}") from None
    base = Path(path).resolve().parent
    known = {"url_prefix", "users", "secret_key_file", "read_only", "https", "settings", "sources"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(sorted(unknown))}")
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, dict) or not raw_sources:
        raise ConfigError(f"{path} lists no [sources.NAME] table")
    sources = [_source_from_toml(key, value, base) for key, value in raw_sources.items()]
    users = data.get("users")
    config = AppConfig(
        sources=sources,
        url_prefix=normalize_prefix(data.get("url_prefix"), "url_prefix"),
        users_file=str(base / users) if users else None,
        secret_key_file=str(base / data["secret_key_file"]) if data.get("secret_key_file") else None,
        read_only=bool(data.get("read_only", False)),
        https=bool(data.get("https", False)),
        settings=dict(data.get("settings") or {}),
    )
    assign_paths(config)
    return config


def _source_from_toml(key: str, value: Any, base: Path) -> SourceConfig:
    if not isinstance(value, dict):
        raise ConfigError(f"[sources.{key}] must be a table")
    uri, folder = value.get("uri"), value.get("folder")
    if bool(uri) == bool(folder):
        raise ConfigError(f"[sources.{key}] needs exactly one of uri = \"mongodb://...\" or folder = \"...\"")
    runs, metrics = value.get("runs_collection", "runs"), value.get("metrics_collection", "metrics")
    prefix = value.get("collection_prefix")
    if prefix:  # Sacred's MongoObserver(collection_prefix=...) naming
        runs, metrics = f"{prefix}_runs", f"{prefix}_metrics"
    unknown = set(value) - {"uri", "folder", "path", "runs_collection", "metrics_collection",
                            "collection_prefix", "title", "settings"}
    if unknown:
        raise ConfigError(f"unknown key(s) in [sources.{key}]: {', '.join(sorted(unknown))}")
    location = str(uri) if uri else str((base / str(folder)).resolve())
    return SourceConfig(
        key=key,
        location=location,
        path=normalize_prefix(value["path"], f"sources.{key}.path") if value.get("path") else "",
        runs_collection=str(runs),
        metrics_collection=str(metrics),
        title=str(value.get("title") or key),
        settings=dict(value.get("settings") or {}),
    )


# -- Omniboard -------------------------------------------------------------------------
def load_omniboard_config(path: str | Path) -> AppConfig:
    """Omniboard's OMNIBOARD_CONFIG JSON, as is: {key: {mongodbURI, path, runsCollectionName, ...}}."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected an object of databases, as Omniboard's OMNIBOARD_CONFIG")
    sources = []
    for key, value in data.items():
        if not isinstance(value, dict) or not value.get("mongodbURI"):
            raise ConfigError(f"{path}: database {key!r} has no mongodbURI")
        sources.append(
            SourceConfig(
                key=key,
                location=str(value["mongodbURI"]),
                path=normalize_prefix(value.get("path") or f"/{key}", f"{key}.path"),
                runs_collection=str(value.get("runsCollectionName") or "runs"),
                metrics_collection=str(value.get("metricsCollectionName") or "metrics"),
                title=key,
            )
        )
    config = AppConfig(sources=sources)
    assign_paths(config)
    return config


def assign_paths(config: AppConfig) -> None:
    """One source may sit at the root; several each get a distinct path (default /<key>)."""
    if len(config.sources) > 1:
        for source in config.sources:
            if not source.path:
                source.path = normalize_prefix("/" + re.sub(r"[^A-Za-z0-9._~-]", "-", source.key))
    seen: set[str] = set()
    for source in config.sources:
        if source.path in seen:
            raise ConfigError(f"two sources share the URL path {source.path or '/'!r}")
        seen.add(source.path)
    reserved = {"/login", "/logout", "/healthz", "/api", "/assets", "/account"}
    for source in config.sources:
        if source.path in reserved:
            raise ConfigError(f"source {source.key!r}: the path {source.path} is reserved")


def single_source_config(
    location: str,
    runs_collection: str = "runs",
    metrics_collection: str = "metrics",
    probably_dead_after: float | None = None,
) -> AppConfig:
    """The AppConfig of `omnidash serve SOURCE`."""
    settings = {} if probably_dead_after is None else {"probably_dead_after": probably_dead_after}
    source = SourceConfig(
        key="main",
        location=location,
        runs_collection=runs_collection,
        metrics_collection=metrics_collection,
        settings=settings,
    )
    return AppConfig(sources=[source])

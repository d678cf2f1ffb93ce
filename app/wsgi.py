"""WSGI entry for gunicorn and other servers: `gunicorn -w 2 -k gthread --threads 8 omnidash.wsgi:application`.

Configured by environment variables (the same meaning as `omnidash serve` options):
  OMNIDASH_CONFIG  a TOML config file (several sources); else OMNIBOARD_CONFIG (Omniboard's JSON);
  OMNIDASH_SOURCE  else MONGO_URI: one mongodb:// URI or folder;
  OMNIDASH_RUNS_COLLECTION, OMNIDASH_METRICS_COLLECTION, OMNIDASH_PROBABLY_DEAD_AFTER,
  OMNIDASH_USERS (users file), OMNIDASH_SECRET_KEY / OMNIDASH_SECRET_KEY_FILE, OMNIDASH_READ_ONLY=1,
  OMNIDASH_URL_PREFIX, OMNIDASH_HTTPS=1 (Secure cookies, X-Forwarded-* trusted from the proxy),
  OMNIDASH_TRUSTED_PROXY (the proxy's address; default 127.0.0.1 with OMNIDASH_HTTPS=1),
  OMNIDASH_AUTH_STATE (the shared sign-in state file; default beside the users file).
Behind a proxy, X-Forwarded-For/Proto/Host/Port are applied here, only for requests from
OMNIDASH_TRUSTED_PROXY (and dropped from anyone else), so gunicorn's own forwarded_allow_ips (which only
covers the scheme) needs no change when the proxy is on 127.0.0.1; set both when it is elsewhere.
Do not use gunicorn --preload: each worker opens its own MongoDB client after the fork.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Callable

from omnidash.cli import CliError, build_application, load_app_config, trust_proxy_headers, trusted_proxy_for
from omnidash.config import ConfigError


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def application_from_env() -> Callable:
    """Build the WSGI application from the environment; exits with one line on a configuration error."""
    pda = os.environ.get("OMNIDASH_PROBABLY_DEAD_AFTER")
    args = Namespace(
        source=os.environ.get("OMNIDASH_SOURCE") or None,
        config=os.environ.get("OMNIDASH_CONFIG") or None,
        runs_collection=os.environ.get("OMNIDASH_RUNS_COLLECTION", "runs"),
        metrics_collection=os.environ.get("OMNIDASH_METRICS_COLLECTION", "metrics"),
        probably_dead_after=float(pda) if pda else None,
        read_only=_truthy("OMNIDASH_READ_ONLY"),
        users=os.environ.get("OMNIDASH_USERS") or None,
        url_prefix=os.environ.get("OMNIDASH_URL_PREFIX"),
        secret_key_file=None,
        https=_truthy("OMNIDASH_HTTPS"),
    )
    try:
        config = load_app_config(args)
        wsgi, _stores = build_application(config)
        trusted = trusted_proxy_for(config.https, os.environ.get("OMNIDASH_TRUSTED_PROXY"))
        if trusted:
            wsgi = trust_proxy_headers(wsgi, trusted)
    except (CliError, ConfigError) as e:
        print(f"omnidash: error: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    return wsgi


application = application_from_env()

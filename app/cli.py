"""The `omnidash` command: serve, demo, users. Every expected failure is one line on stderr and exit 1.

    omnidash serve [SOURCE] [--host H] [--port P] [--runs-collection C] [--metrics-collection C]
                   [--probably-dead-after S] [--read-only] [--config FILE] [--users FILE] [--url-prefix P]
    omnidash demo [--dir DIR] [--runs N] [--no-live] [--host H] [--port P]
    omnidash users add|remove|passwd|role|token|list FILE [NAME] [--role R]
"""

from __future__ import annotations

import argparse
import gc
import getpass
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn, TextIO

PROG = "omnidash"
DEFAULT_DEMO_DIR = "omnidash-demo"


class CliError(Exception):
    """An expected failure: printed as `omnidash: error: <message>`, exit status 1."""

    status = 1


class UsageError(CliError):
    """The command line is incomplete (exit status 2)."""

    status = 2


# -- argument parsing ----------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Usage errors: one line (plus the usage line argparse prints) and exit status 2."""
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8050, help="port to listen on (default 8050)")
    p.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="A fast dashboard for Sacred experiment runs.")
    sub = parser.add_subparsers(dest="command", metavar="{serve,demo,users}", parser_class=_Parser)

    serve = sub.add_parser("serve", help="serve a MongoDB database or a Sacred FileStorage folder")
    serve.add_argument("source", nargs="?", metavar="SOURCE",
                       help="mongodb:// or mongodb+srv:// URI (database from the path, default 'sacred') "
                            "or a FileStorageObserver folder; default: $MONGO_URI")
    _add_server_options(serve)
    serve.add_argument("--runs-collection", default="runs", help="runs collection (default runs)")
    serve.add_argument("--metrics-collection", default="metrics", help="metrics collection (default metrics)")
    serve.add_argument("--probably-dead-after", type=float, default=None, metavar="SECONDS",
                       help="RUNNING runs without a heartbeat for this long show as PROBABLY_DEAD (default 120)")
    serve.add_argument("--read-only", action="store_true", help="refuse every write (a public board)")
    serve.add_argument("--config", metavar="FILE",
                       help="TOML config listing several sources (or Omniboard's JSON; also $OMNIBOARD_CONFIG)")
    serve.add_argument("--users", metavar="FILE", help="users file: require sign-in (see `omnidash users`)")
    serve.add_argument("--url-prefix", default=None, metavar="PATH", help="serve under this path, e.g. /omnidash")
    serve.add_argument("--secret-key-file", metavar="FILE",
                       help="file holding the session secret (or $OMNIDASH_SECRET_KEY / $OMNIDASH_SECRET_KEY_FILE)")
    serve.add_argument("--https", action="store_true",
                       help="behind an HTTPS reverse proxy: Secure cookies, and X-Forwarded-For/Proto/Host/Port "
                            "from the proxy (--trusted-proxy) are trusted")
    serve.add_argument("--trusted-proxy", metavar="ADDR", default=None,
                       help="the reverse proxy's address whose X-Forwarded-* headers are trusted (default "
                            "127.0.0.1 with --https; '*' trusts any peer: only when nothing else can connect)")

    demo = sub.add_parser("demo", help="write realistic demo runs into a folder and serve them")
    demo.add_argument("--dir", default=DEFAULT_DEMO_DIR, help=f"folder for the runs (default ./{DEFAULT_DEMO_DIR})")
    demo.add_argument("--runs", type=int, default=60, help="how many runs to write (default 60)")
    demo.add_argument("--no-live", dest="live", action="store_false",
                      help="do not keep two runs RUNNING (appending metrics and output) while serving")
    _add_server_options(demo)

    users = sub.add_parser("users", help="manage the users file (password from a prompt or stdin)")
    users.add_argument("action", choices=["add", "remove", "passwd", "role", "token", "revoke-tokens", "list"])
    users.add_argument("file", metavar="FILE")
    users.add_argument("name", nargs="?", metavar="NAME")
    users.add_argument("--role", choices=["viewer", "editor", "admin"], default=None,
                       help="role for add (default viewer) and role")
    return parser


# -- serve ---------------------------------------------------------------------------------
def resolve_source(source: str | None) -> str:
    """SOURCE, else $MONGO_URI; a folder must exist."""
    source = source or os.environ.get("MONGO_URI")
    if not source:
        raise UsageError("no data source: give a mongodb:// URI or a Sacred folder (omnidash serve SOURCE), "
                       "or set MONGO_URI")
    if source.startswith(("mongodb://", "mongodb+srv://")):
        return source
    if "://" in source:
        raise CliError(f"unsupported source {source!r}: use a mongodb:// or mongodb+srv:// URI, or a folder")
    path = Path(source).expanduser()
    if not path.is_dir():
        raise CliError(f"{source} is not a folder (nor a mongodb:// URI)")
    return str(path.resolve())


def open_source(location: str, runs_collection: str = "runs", metrics_collection: str = "metrics",
                probably_dead_after: float | None = None, read_only: bool = False) -> Any:
    """Open and check one store; every failure becomes a CliError with one line."""
    from omnidash.store import open_store
    from omnidash.store.base import AuthenticationFailed, StoreError

    options: dict[str, Any] = {"read_only": read_only}
    if probably_dead_after is not None:
        options["probably_dead_after"] = probably_dead_after
    is_mongodb = location.startswith(("mongodb://", "mongodb+srv://"))
    if is_mongodb:
        options.update(runs_collection=runs_collection, metrics_collection=metrics_collection)
    try:
        # a folder is read whole at the start: a minute or more for 100,000 runs on a cold disk (MongoDB gives
        # up on an unreachable server after its own 3 s and reports in one line)
        with nullcontext() if is_mongodb else slow_notice(f"reading the runs in {location}"):
            store = open_store(location, **options)
        store.ping()
        count = store.count("")
    except AuthenticationFailed as e:
        raise CliError(f"authentication failed: {one_line(e)}") from None
    except StoreError as e:
        raise CliError(one_line(e)) from None
    except Exception as e:  # noqa: BLE001 - driver errors (bad URI, DNS) are still one line
        raise CliError(f"cannot open {redact(location)}: {type(e).__name__}: {one_line(e)}") from None
    if store.kind == "files" and count == 0:
        raise CliError(f"{location} holds no Sacred runs (expected folders with run.json, as written by "
                       f"FileStorageObserver)")
    return store


@contextmanager
def slow_notice(what: str, after: float = 3.0, every: float = 15.0, out: TextIO | None = None) -> Iterator[None]:
    """Say on stderr that `what` is under way once it has taken `after` seconds, again every `every` seconds,
    and how long it took in the end; say nothing when it is quick (a silent start looks like a hang)."""
    done = threading.Event()
    said = []
    stream = out if out is not None else sys.stderr
    started = time.monotonic()

    def tell() -> None:
        wait = after
        while not done.wait(wait):
            elapsed = time.monotonic() - started
            print(f"omnidash: {what} ..." if not said else f"omnidash: still {what} ({elapsed:.0f} s)",
                  file=stream, flush=True)
            said.append(elapsed)
            wait = every

    ticker = threading.Thread(target=tell, name="omnidash-slow-notice", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
    if said:  # not after a failure: its own message follows
        print(f"omnidash: done {what} in {time.monotonic() - started:.0f} s", file=stream, flush=True)


def one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:400] or type(e).__name__


def redact(uri: str) -> str:
    """A URI without its password."""
    if "://" in uri and "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = uri.split("://", 1)
        creds, host = rest.split("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return uri


def check_port(host: str, port: int) -> None:
    """Fail early with one line when the address cannot be bound."""
    if not 0 < port < 65536:
        raise CliError(f"invalid port {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CliError(f"cannot resolve host {host!r}: {e.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except PermissionError:
            raise CliError(f"no permission to listen on port {port} (ports below 1024 need root)") from None
        except OSError as e:
            raise CliError(f"port {port} on {host} is already in use ({e.strerror}); pick another with --port")\
                from None


def load_app_config(args: argparse.Namespace) -> Any:
    """The AppConfig from --config / $OMNIBOARD_CONFIG, or from SOURCE and its options."""
    from omnidash.config import (
        AppConfig,
        load_omniboard_config,
        load_toml_config,
        normalize_prefix,
        single_source_config,
    )

    config: AppConfig
    config_file = args.config or os.environ.get("OMNIDASH_CONFIG")
    if args.source is None and not config_file and os.environ.get("OMNIBOARD_CONFIG") and not os.environ.get(
            "MONGO_URI"):
        config_file = os.environ["OMNIBOARD_CONFIG"]
    if config_file:
        if args.source:
            raise CliError("give either SOURCE or --config, not both")
        config = load_omniboard_config(config_file) if config_file.endswith(".json") else load_toml_config(config_file)
    else:
        config = single_source_config(resolve_source(args.source), args.runs_collection, args.metrics_collection,
                                      args.probably_dead_after)
    if args.url_prefix is not None:
        config.url_prefix = normalize_prefix(args.url_prefix)
    if args.users:
        config.users_file = args.users
    if args.secret_key_file:
        config.secret_key_file = args.secret_key_file
    config.read_only = config.read_only or args.read_only
    config.https = config.https or args.https
    return config


def build_application(config: Any) -> tuple[Callable, dict[str, Any]]:
    """Open every source and build the WSGI app (accounts included). Raises CliError."""
    from omnidash.config import ConfigError, read_secret_key
    from omnidash.server import build_wsgi

    auth = None
    if config.users_file:
        from omnidash.auth.users import UsersFile, UsersFileError
        from omnidash.auth.web import AuthConfig

        try:
            users = UsersFile(config.users_file)
        except UsersFileError as e:
            raise CliError(str(e)) from None
        if len(users) == 0:
            raise CliError(f"{config.users_file} has no users; add one with `omnidash users add "
                           f"{config.users_file} NAME --role admin`")
        try:
            secret = read_secret_key(config)
        except ConfigError as e:
            raise CliError(str(e)) from None
        if not secret:
            raise CliError("accounts need a session secret: set OMNIDASH_SECRET_KEY or OMNIDASH_SECRET_KEY_FILE, "
                           "or pass --secret-key-file (e.g. `python -c 'import secrets; "
                           "print(secrets.token_hex(32))' > secret.key`)")
        from omnidash.auth.state import AuthStateError

        try:
            auth = AuthConfig(users=users, secret_key=secret, https=config.https)
        except AuthStateError as e:
            raise CliError(str(e)) from None
    stores: dict[str, Any] = {}
    for source in config.sources:
        try:
            pda = config.settings_for(source).probably_dead_after
        except ConfigError as e:
            raise CliError(str(e)) from None
        stores[source.key] = open_source(source.location, source.runs_collection, source.metrics_collection,
                                         pda, config.read_only)
    try:
        wsgi = build_wsgi(config, stores, auth)
    except ConfigError as e:
        raise CliError(str(e)) from None
    keep_out_of_collection()
    return wsgi, stores


def keep_out_of_collection() -> None:
    """What the server has read by now lives as long as it does (a folder's runs: over a million objects at
    100,000 runs): take it out of the cyclic garbage collector's reach, whose full passes walked all of it again
    whenever a request allocated much (the first table page of a 100,000-run folder: 7.1 s, then 4.5 s)."""
    gc.collect()
    gc.freeze()


# The headers a trusted reverse proxy sets (the README's nginx: X-Forwarded-For and -Proto, Host).
PROXY_HEADERS = ("x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port")


def trusted_proxy_for(https: bool, trusted_proxy: str | None) -> str | None:
    """The proxy address to trust: --trusted-proxy, else 127.0.0.1 with --https, else none."""
    if trusted_proxy:
        return trusted_proxy.strip()
    return "127.0.0.1" if https else None


def trust_proxy_headers(wsgi: Callable, trusted_proxy: str) -> Callable:
    """For WSGI servers that pass X-Forwarded-* through (gunicorn): apply them (werkzeug's ProxyFix, one
    hop) only on requests whose peer is `trusted_proxy` ('*': any); drop them from anyone else.
    waitress does the same itself (see `run_server`)."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    fixed = ProxyFix(wsgi, x_for=1, x_proto=1, x_host=1, x_port=1)
    names = ["HTTP_" + h.upper().replace("-", "_") for h in PROXY_HEADERS]

    def app(environ: dict, start_response: Callable):
        if trusted_proxy == "*" or environ.get("REMOTE_ADDR") == trusted_proxy:
            return fixed(environ, start_response)
        for name in names:
            environ.pop(name, None)
        return wsgi(environ, start_response)

    return app


def waitress_server(wsgi: Callable, host: str, port: int, threads: int = 8, trusted_proxy: str | None = None) -> Any:
    """The waitress server (a production WSGI server) `omnidash serve` runs, bound but not yet running
    (`.run()`); benchmarks serve through it too. OSError when the port is taken.

    With `trusted_proxy`, waitress takes the client address, scheme, host and port from the X-Forwarded-*
    headers of requests coming from that address (the last hop of X-Forwarded-For); without it, or from
    any other peer, it drops those headers."""
    from waitress import create_server

    proxy: dict[str, Any] = {}
    if trusted_proxy:
        proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_count": 1,
                 "trusted_proxy_headers": " ".join(PROXY_HEADERS), "clear_untrusted_proxy_headers": True}
    return create_server(wsgi, host=host, port=port, threads=max(1, threads), ident="omnidash",
                         channel_timeout=300, **proxy)


def run_server(wsgi: Callable, host: str, port: int, threads: int, banner: str,
               trusted_proxy: str | None = None) -> None:
    """Serve with waitress until Ctrl-C."""
    try:
        server = waitress_server(wsgi, host, port, threads, trusted_proxy)
    except OSError as e:
        raise CliError(f"port {port} on {host} is already in use ({e.strerror}); pick another with --port") from None
    print(banner, flush=True)
    previous = stop_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        print("omnidash: stopped", file=sys.stderr)
    finally:
        server.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def stop_on_sigterm() -> Any:
    """SIGTERM (`docker stop`, systemd, `kill`) stops the server as Ctrl-C does, so what runs on the way out runs
    (the demo's live runs end INTERRUPTED instead of staying RUNNING in a killed process). The handler it
    replaced, or None when this is not the main thread (only it may set one)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)


def url_for(host: str, port: int, prefix: str = "") -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host and host != "::" else host
    if host == "::":
        shown = "[::1]"
    return f"http://{shown}:{port}{prefix}/"


def cmd_serve(args: argparse.Namespace) -> int:
    from omnidash.config import ConfigError

    try:
        config = load_app_config(args)
    except ConfigError as e:
        raise CliError(str(e)) from None
    check_port(args.host, args.port)
    wsgi, stores = build_application(config)
    described = ", ".join(f"{s.describe()}" for s in stores.values())
    banner = f"omnidash: serving {described} at {url_for(args.host, args.port, config.url_prefix)} (Ctrl-C to stop)"
    run_server(wsgi, args.host, args.port, args.threads, banner, trusted_proxy_for(config.https, args.trusted_proxy))
    return 0


# -- demo ------------------------------------------------------------------------------------
def existing_runs(directory: Path) -> int:
    """How many Sacred run folders (with a run.json) `directory` holds."""
    if not directory.is_dir():
        return 0
    return sum(1 for child in directory.iterdir() if (child / "run.json").is_file())


def cmd_demo(args: argparse.Namespace) -> int:
    from omnidash.components.text import plural

    if args.runs < 1:
        raise CliError("--runs must be at least 1")
    directory = Path(args.dir).expanduser().resolve()
    check_port(args.host, args.port)
    found = existing_runs(directory)
    if found:
        print(f"omnidash: {directory} already holds {plural(found, 'run')}; reusing them "
              f"(delete the folder or pass --dir to write new ones)", flush=True)
    else:
        from omnidash.demo import write_demo_runs

        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CliError(f"cannot create {directory}: {e.strerror}") from None
        print(f"omnidash: writing {args.runs} demo runs into {directory} ...", flush=True)
        written = write_demo_runs(str(directory), args.runs)
        print(f"omnidash: wrote {plural(written, 'run')}", flush=True)
    from omnidash.config import single_source_config

    config = single_source_config(str(directory))
    wsgi, stores = build_application(config)
    url = url_for(args.host, args.port)
    live = None
    if args.live:
        from omnidash.demo import LiveRuns

        live = LiveRuns(directory).start()  # two runs really RUNNING while the demo serves
    try:
        run_server(wsgi, args.host, args.port, args.threads,
                   f"omnidash: demo at {url} ({stores['main'].describe()}; Ctrl-C to stop)")
    finally:
        if live is not None:
            live.stop()
    return 0


# -- users -----------------------------------------------------------------------------------
def read_password(confirm: bool = True) -> str:
    """From a prompt on a terminal (typed twice), else the first line of stdin; never from argv."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Repeat password: ") != first:
            raise CliError("the passwords do not match")
        return first
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise CliError("no password on stdin")
    return password


def cmd_users(args: argparse.Namespace) -> int:
    from omnidash.auth.users import UsersFile, UsersFileError

    if args.action != "list" and not args.name:
        raise CliError(f"users {args.action} needs a user NAME")
    try:
        users = UsersFile(args.file, must_exist=args.action != "add")
        if args.action == "add":
            users.add(args.name, read_password(), args.role or "viewer")
            print(f"omnidash: added {args.name} ({args.role or 'viewer'}) to {args.file}")
        elif args.action == "remove":
            users.remove(args.name)
            print(f"omnidash: removed {args.name} from {args.file}")
        elif args.action == "passwd":
            if users.get(args.name) is None:
                raise CliError(f"no user {args.name!r} in {args.file}")
            users.set_password(args.name, read_password())
            print(f"omnidash: changed the password of {args.name} (their sessions are signed out)")
        elif args.action == "role":
            if not args.role:
                raise CliError("users role needs --role viewer|editor|admin")
            users.set_role(args.name, args.role)
            print(f"omnidash: {args.name} is now {args.role}")
        elif args.action == "token":
            token = users.new_token(args.name)
            print(f"omnidash: API token for {args.name} (shown once; send it as 'Authorization: Bearer TOKEN'):",
                  file=sys.stderr)
            print(token)
        elif args.action == "revoke-tokens":
            print(f"omnidash: revoked {users.revoke_tokens(args.name)} token(s) of {args.name}")
        else:
            for name in users.names():
                user = users.get(name)
                assert user is not None
                print(f"{name}\t{user.role}\t{len(user.tokens)} token(s)")
    except UsersFileError as e:
        raise CliError(str(e)) from None
    return 0


# -- entry point -------------------------------------------------------------------------------
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"serve": cmd_serve, "demo": cmd_demo, "users": cmd_users}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        print(f"{PROG}: error: choose a command: serve SOURCE, demo or users (see omnidash --help)", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except CliError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return e.status
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # noqa: BLE001 - never a traceback for the user; OMNIDASH_DEBUG=1 shows it
        if os.environ.get("OMNIDASH_DEBUG"):
            raise
        print(f"{PROG}: error: {type(e).__name__}: {one_line(e)} (set OMNIDASH_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

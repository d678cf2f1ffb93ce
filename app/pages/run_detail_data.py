"""Pure helpers of the run detail page: id resolution, the reproduce command, fail traces, formatting and
Markdown link sanitising. No dash here, so everything is unit-testable."""

from __future__ import annotations

import base64
import html as html_lib
import math
import re
import shlex
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from omnidash.core.ids import id_candidates, parse_run_id
from omnidash.store.base import NotFound, RunId, RunStore
from omnidash.store.rows import decode_value, parse_time


# -- ids -------------------------------------------------------------------------------------
def candidate_ids(raw: str) -> list[RunId]:
    """The ids a URL segment may mean: `"7"` -> [7, "7"]; `"lr-0.1-final"` -> ["lr-0.1-final"]."""
    return id_candidates(parse_run_id(unquote(str(raw))))


def resolve_run(store: RunStore, raw: str | RunId) -> tuple[RunId, dict[str, Any]]:
    """(run id as stored, run document) for a URL segment; raises NotFound."""
    if isinstance(raw, int):
        return raw, store.get_run(raw)
    for run_id in candidate_ids(raw):
        try:
            return run_id, store.get_run(run_id)
        except NotFound:
            continue
    raise NotFound(f"no run with id {unquote(str(raw))!r}")


# -- reproduce command -------------------------------------------------------------------------
def cli_literal(value: Any) -> str:
    """A value as Sacred's command line parses it back (`ast.literal_eval`): strings quoted, None/True kept."""
    value = decode_value(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return repr(value)  # not a Python literal; Sacred keeps it as the string "nan"/"inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(cli_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{cli_literal(str(k))}: {cli_literal(v)}" for k, v in value.items()) + "}"
    return cli_literal(str(value))


def flat_updates(updates: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested meta.config_updates -> [("dataset.noise", 0.5), ...]; dict values of known keys stay whole."""
    out: list[tuple[str, Any]] = []
    if not isinstance(updates, Mapping):
        return out
    for key, value in updates.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value and not any(str(k).startswith("py/") for k in value):
            out.extend(flat_updates(value, path))
        else:
            out.append((path, value))
    return out


def reproduce_command(doc: Mapping[str, Any]) -> str:
    """`python <mainfile> <command> with <named configs> key=value ...`, shell-quoted."""
    experiment = doc.get("experiment") if isinstance(doc.get("experiment"), Mapping) else {}
    meta = doc.get("meta") if isinstance(doc.get("meta"), Mapping) else {}
    mainfile = experiment.get("mainfile") or f"{experiment.get('name') or 'experiment'}.py"
    command = doc.get("command") or meta.get("command")
    parts = ["python", str(mainfile)]
    if isinstance(command, str) and command:
        parts.append(command)
    named = [str(n) for n in (meta.get("named_configs") or []) if isinstance(n, str)]
    updates = [f"{k}={cli_literal(v)}" for k, v in flat_updates(meta.get("config_updates"))]
    if named or updates:
        parts.append("with")
        parts.extend(named)
        parts.extend(updates)
    return " ".join(shlex.quote(p) for p in parts)


# -- fail trace ---------------------------------------------------------------------------------
def trace_text(fail_trace: Any) -> str:
    if isinstance(fail_trace, list):
        return "".join(str(x) for x in fail_trace)
    return str(fail_trace or "")


def exception_summary(fail_trace: Any) -> str:
    """The exception itself (`RuntimeError: ...`, possibly several lines), taken after the last frame."""
    lines = trace_text(fail_trace).rstrip("\n").split("\n")
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    i = frames[-1] + 1 if frames else 0
    while i < len(lines) and (lines[i].startswith(" ") or not lines[i].strip()):
        i += 1
    rest = [line for line in lines[i:]]
    if not rest:
        rest = [lines[-1]] if lines else [""]
    return "\n".join(rest).strip()


def is_library_frame(frame: str) -> bool:
    """Frames inside installed packages (sacred, site-packages, the stdlib) are dimmed."""
    return any(s in frame for s in ("site-packages", "dist-packages", "/sacred/", "/lib/python"))


# -- experiment ----------------------------------------------------------------------------------
def dedupe_repositories(repos: Any) -> list[dict[str, Any]]:
    """Sacred writes one entry per source file; keep each (url, commit, dirty) once."""
    seen, out = set(), []
    for repo in repos if isinstance(repos, list) else []:
        if not isinstance(repo, Mapping):
            continue
        key = (str(repo.get("url")), str(repo.get("commit")), bool(repo.get("dirty")))
        if key not in seen:
            seen.add(key)
            out.append({"url": repo.get("url"), "commit": repo.get("commit"), "dirty": bool(repo.get("dirty"))})
    return out


def split_dependency(dep: str) -> tuple[str, str]:
    """`"numpy==2.4.6"` -> ("numpy", "2.4.6")."""
    name, sep, version = str(dep).partition("==")
    return (name, version) if sep else (str(dep), "")


# -- formatting -------------------------------------------------------------------------------------
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def jsonpickle_datetime(value: Any) -> datetime | None:
    """A datetime flattened by jsonpickle (FileStorage's meta.queue_time) -> naive UTC datetime."""
    if not (isinstance(value, Mapping) and value.get("py/object") == "datetime.datetime"):
        return None
    try:
        state = value["__reduce__"][1][0]
        return datetime(base64.b64decode(state))  # type: ignore[call-overload] # the pickle state form
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def format_time(value: Any, tz: str = "UTC") -> str | None:
    d = parse_time(jsonpickle_datetime(value) or value)
    if d is None:
        return None
    local = d.astimezone(zone(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or tz)


def duration_seconds(doc: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """stop - start when stopped, else heartbeat - start (Omniboard), else None."""
    start = parse_time(doc.get("start_time"))
    end = parse_time(doc.get("stop_time")) or parse_time(doc.get("heartbeat"))
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def format_duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def format_size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# -- Markdown safety ------------------------------------------------------------------------------------
SAFE_SCHEMES = ("http", "https", "mailto")
_INLINE_LINK = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^\s)]*)")
_REF_DEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:\s*)(<[^>\n]*>|\S+)", re.MULTILINE)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*)>")
_HTML_TAG = re.compile(r"<(/?[A-Za-z!?][^>]*)>")


def is_safe_url(url: str) -> bool:
    """Relative links, anchors and http(s)/mailto only; entities, controls and whitespace cannot hide a scheme."""
    decoded = html_lib.unescape(unquote(url.strip("<>")))
    compact = re.sub(r"[\x00-\x20\x7f\\]+", "", decoded).lower()
    scheme = re.match(r"^([a-z][a-z0-9+.\-]*):", compact)
    return scheme is None or scheme.group(1) in SAFE_SCHEMES


def sanitize_markdown(text: str) -> str:
    """Markdown whose links can only go to safe URLs; raw HTML is shown as text (escaped)."""
    text = str(text or "")

    def fix_inline(m: re.Match[str]) -> str:
        return m.group(1) + (m.group(2) if is_safe_url(m.group(2)) else "#unsafe-link-removed")

    def fix_ref(m: re.Match[str]) -> str:
        return m.group(1) + (m.group(2) if is_safe_url(m.group(2)) else "#unsafe-link-removed")

    def fix_autolink(m: re.Match[str]) -> str:
        return m.group(0) if is_safe_url(m.group(1)) else "&lt;" + m.group(1) + "&gt;"

    text = _INLINE_LINK.sub(fix_inline, text)
    text = _REF_DEF.sub(fix_ref, text)
    text = _AUTOLINK.sub(fix_autolink, text)
    return text


def code_fence(source: str, language: str = "") -> str:
    """`source` as a fenced Markdown code block whose fence cannot be closed by the source itself."""
    longest = max((len(m) for m in re.findall(r"`+", source)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{source}\n{fence}\n"


LANGUAGES = {
    ".py": "python", ".json": "json", ".yaml": "yaml", ".yml": "yaml", ".sh": "bash", ".toml": "ini",
    ".cfg": "ini", ".ini": "ini", ".md": "markdown", ".js": "javascript", ".c": "c", ".cpp": "cpp",
    ".h": "c", ".pyx": "python", ".txt": "",
}


def language_of(name: str) -> str:
    lower = name.lower()
    for ext, lang in LANGUAGES.items():
        if lower.endswith(ext):
            return lang
    return ""

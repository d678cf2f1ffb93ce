"""The runs table's view state (what the URL holds) and the translations into the query language.

Pure functions, no dash: the grid's filterModel and sortModel, the status chips and the URL all
become the one query string and sort list that the store understands.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from omnidash.components.columns import (
    DEFAULT_PINNED,
    MAX_WIDTH,
    MIN_WIDTH,
    default_width,
    split_columns,
)
from omnidash.core.status import STATUSES
from omnidash.store.query import quote

PAGE_SIZES = (50, 100, 200, 500)
DEFAULT_PAGE_SIZE = 100  # when the source configures none (or an unusable one)
MAX_PAGE_SIZE = 10000  # the API's own limit on one request
DEFAULT_SORT = ["-id"]
_WIDTH = re.compile(r"^\d{1,6}$")
NO_PINS = "-"  # `pin=-`: nothing pinned (no `pin`: the default pins)


@dataclass
class View:
    """Everything that makes a table view shareable: it round-trips through the URL."""

    q: str = ""
    sort: list[str] = field(default_factory=lambda: list(DEFAULT_SORT))
    cols: list[str] | None = None  # None: the default columns
    pin: list[str] | None = None  # None: the default pins (id and experiment)
    group: list[str] = field(default_factory=list)
    ps: int = DEFAULT_PAGE_SIZE
    w: dict[str, int] = field(default_factory=dict)  # column widths that differ from the default
    varying: bool = True  # "only columns that vary": config keys equal in every run stay out of the defaults

    def __post_init__(self) -> None:
        self.w = clean_widths(self.w)

    def to_dict(self) -> dict[str, Any]:
        """The view as JSON (the dcc.Store and saved views); widths as [name, px] pairs, as column names
        hold dots that MongoDB documents (and FerretDB) refuse as keys."""
        d = asdict(self)
        d["w"] = [[name, px] for name, px in self.w.items()]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> View:
        d = d or {}
        return cls(
            q=str(d.get("q") or ""),
            sort=[str(s) for s in (d.get("sort") or DEFAULT_SORT)],
            cols=[str(c) for c in d["cols"]] if d.get("cols") else None,
            pin=[str(c) for c in d["pin"]] if isinstance(d.get("pin"), list) else None,
            group=[str(c) for c in d.get("group") or []],
            ps=page_size_default(d.get("ps")),  # the page stored it: checked against the menu then
            w=clean_widths(d.get("w")),
            varying=d.get("varying") is not False,
        )

    def pinned(self) -> list[str]:
        """The columns pinned on the left (the default pins unless the view names its own)."""
        return list(DEFAULT_PINNED) if self.pin is None else list(self.pin)


def page_size_default(configured: Any) -> int:
    """A usable rows-per-block value, else DEFAULT_PAGE_SIZE: the source's `page_size` setting, or the size
    a stored view holds."""
    try:
        n = int(configured)
    except (TypeError, ValueError):
        return DEFAULT_PAGE_SIZE
    return n if 1 <= n <= MAX_PAGE_SIZE else DEFAULT_PAGE_SIZE


def page_sizes(default: int = DEFAULT_PAGE_SIZE) -> list[int]:
    """The page-size menu: the usual sizes and the source's default."""
    return sorted({*PAGE_SIZES, default})


def _page_size(v: Any, default: int = DEFAULT_PAGE_SIZE) -> int:
    """A page size from the URL: one of the menu's sizes, else the default."""
    try:
        n = int(v)
    except (TypeError, ValueError):
        return default
    return n if n in page_sizes(default) else default


def clean_widths(raw: Any) -> dict[str, int]:
    """Column widths from a dict or [name, px] pairs: bad entries dropped, extremes clamped, defaults left
    out, sorted by column name (one canonical URL per view)."""
    items = raw.items() if isinstance(raw, dict) else raw if isinstance(raw, list | tuple) else []
    out: dict[str, int] = {}
    for item in items:
        if not isinstance(item, list | tuple) or len(item) != 2:
            continue
        name, px = item
        if not isinstance(name, str) or not name.strip() or isinstance(px, bool):
            continue
        if isinstance(px, float) and px.is_integer():
            px = int(px)
        if not isinstance(px, int) and not (isinstance(px, str) and _WIDTH.match(px)):
            continue
        px = min(MAX_WIDTH, max(MIN_WIDTH, int(px)))
        out[name.strip()] = px
    return {name: out[name] for name in sorted(out) if out[name] != default_width(name)}


def widths_from_param(text: str | None) -> dict[str, int]:
    """`w=config.lr:140,status:90` -> {"config.lr": 140, "status": 90}; malformed entries are ignored."""
    pairs = []
    for part in split_columns(text):
        name, sep, px = part.rpartition(":")
        if sep:
            pairs.append((name, px.strip()))
    return clean_widths(pairs)


def widths_to_param(widths: dict[str, int]) -> str:
    return ",".join(f"{name}:{px}" for name, px in clean_widths(widths).items())


def view_from_params(params: dict[str, Any], default_ps: int = DEFAULT_PAGE_SIZE) -> View:
    """The view named by URL query parameters (`q`, `sort`, `cols`, `pin`, `group`, `ps`, `w`); bad values
    ignored. `default_ps` is the source's default page size."""
    sort = split_columns(params.get("sort")) or list(DEFAULT_SORT)
    return View(
        q=str(params.get("q") or "").strip(),
        sort=sort,
        cols=split_columns(params.get("cols")) or None,
        pin=_pins_from_param(params.get("pin")),
        group=split_columns(params.get("group")),
        ps=_page_size(params.get("ps"), default_ps),
        w=widths_from_param(params.get("w")),
        varying=str(params.get("varying") or "").strip() != "0",
    )


def _pins_from_param(text: Any) -> list[str] | None:
    if text is None or not str(text).strip():
        return None
    return [] if str(text).strip() == NO_PINS else split_columns(str(text))


def view_to_params(view: View, default_ps: int = DEFAULT_PAGE_SIZE) -> dict[str, str]:
    """URL query parameters for a view, defaults left out (the JS in assets/table.js does the same)."""
    out: dict[str, str] = {}
    if view.q:
        out["q"] = view.q
    if view.sort and view.sort != DEFAULT_SORT:
        out["sort"] = ",".join(view.sort)
    if view.cols:
        out["cols"] = ",".join(view.cols)
    if view.pin is not None and view.pin != DEFAULT_PINNED:
        out["pin"] = ",".join(view.pin) or NO_PINS
    if view.group:
        out["group"] = ",".join(view.group)
    if view.ps != default_ps:
        out["ps"] = str(view.ps)
    widths = widths_to_param(view.w)
    if widths:
        out["w"] = widths
    if not view.varying:
        out["varying"] = "0"
    return out


# -- sort -------------------------------------------------------------------------------
def sort_from_model(sort_model: list[dict[str, Any]] | None) -> list[str]:
    """AG Grid sortModel -> ["-config.lr", "id"] (empty model: the default sort)."""
    keys = []
    for entry in sort_model or []:
        col = entry.get("colId")
        if col:
            keys.append(("-" if entry.get("sort") == "desc" else "") + str(col))
    return keys or list(DEFAULT_SORT)


def sort_to_columns(sort: list[str]) -> dict[str, tuple[str, int]]:
    """{"config.lr": ("desc", 0)}: the initial sort to put on the colDefs."""
    out = {}
    for i, key in enumerate(sort):
        desc = key.startswith("-")
        out[key.lstrip("+-")] = ("desc" if desc else "asc", i)
    return out


# -- query language helpers -----------------------------------------------------------------
def and_join(clauses: list[str]) -> str:
    """Join clauses with `and`, parenthesising any that contain a top-level `or`."""
    parts = []
    for c in clauses:
        c = c.strip()
        if not c:
            continue
        parts.append(f"({c})" if re.search(r"\bor\b", c, re.I) and not _wrapped(c) else c)
    return " and ".join(parts)


def _wrapped(c: str) -> bool:
    if not (c.startswith("(") and c.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(c):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(c) - 1:
            return False
    return True


_STATUS_CLAUSE = re.compile(r"(?:^|\s+and\s+)status in \[[A-Z_, ]*\]\s*$")


def status_chips(query: str) -> list[str]:
    """The statuses selected by the chips' trailing `status in [...]` clause, if the query ends with one."""
    m = _STATUS_CLAUSE.search(query or "")
    if not m:
        return []
    inside = m.group(0).split("[", 1)[1].rsplit("]", 1)[0]
    return [s.strip() for s in inside.split(",") if s.strip() in STATUSES]


def with_status_chips(query: str, statuses: list[str]) -> str:
    """Replace the chips' trailing clause with one for `statuses` (none: the clause goes)."""
    base = _STATUS_CLAUSE.sub("", query or "").strip()
    chosen = [s for s in STATUSES if s in statuses]
    if not chosen:
        return base
    clause = f"status in [{', '.join(chosen)}]"
    return and_join([base, clause]) if base else clause


def toggle_status(query: str, status: str) -> str:
    current = status_chips(query)
    chosen = [s for s in current if s != status] if status in current else [*current, status]
    return with_status_chips(query, chosen)


# -- the grid's own column filters -> the query language ------------------------------------------
def _regex_literal(text: str) -> str:
    return re.escape(str(text))


COMPARISONS = {"equals": "==", "notEqual": "!=", "greaterThan": ">", "lessThan": "<",
               "greaterThanOrEqual": ">=", "lessThanOrEqual": "<="}  # AG Grid's date and number filters
TEXT_MATCHES = {  # AG Grid's text filter: (the clause, how the text is matched: as is or as a regex of its own)
    "equals": ("{col} == {v}", "{text}"), "notEqual": ("{col} != {v}", "{text}"),
    "contains": ("{col} ~ {v}", "{regex}"), "notContains": ("not {col} ~ {v}", "{regex}"),
    "startsWith": ("{col} ~ {v}", "^{regex}"), "endsWith": ("{col} ~ {v}", "{regex}$"),
}


def _day_or_time(value: Any) -> str:
    """An AG Grid date ("2024-01-02 00:00:00") as the query language writes it: the day alone at midnight."""
    text = (value or "")[:19].replace(" ", "T")
    return text[:10] if text.endswith("T00:00:00") else text


def _condition(col: str, f: dict[str, Any]) -> str | None:
    kind = f.get("filterType")
    op = f.get("type")
    if op == "blank":
        return f"{col} missing"
    if op == "notBlank":
        return f"{col} exists"
    if kind == "date":
        start, end = _day_or_time(f.get("dateFrom")), _day_or_time(f.get("dateTo"))
        if op == "inRange" and start and end:
            return f"{col} >= {start} and {col} <= {end}"
        if op in COMPARISONS and start:
            return f"{col} {COMPARISONS[op]} {start}"
        return None
    value = f.get("filter")
    if value is None or value == "":
        return None
    if kind == "number":
        if op == "inRange" and f.get("filterTo") is not None:
            return f"{col} >= {quote(value)} and {col} <= {quote(f['filterTo'])}"
        return f"{col} {COMPARISONS[op]} {quote(value)}" if op in COMPARISONS else None
    if op not in TEXT_MATCHES:
        return None
    clause, operand = TEXT_MATCHES[op]
    text = str(value)
    return clause.format(col=col, v=quote(operand.format(text=text, regex=_regex_literal(text))))


def filter_model_to_query(filter_model: dict[str, Any] | None) -> str:
    """AG Grid filterModel -> query-language clauses joined with `and` (empty model: "")."""
    clauses = []
    for col, f in (filter_model or {}).items():
        if not isinstance(f, dict):
            continue
        if "conditions" in f:
            parts = [_condition(col, c) for c in f.get("conditions") or [] if isinstance(c, dict)]
            parts = [p for p in parts if p]
            joiner = " or " if str(f.get("operator", "AND")).upper() == "OR" else " and "
            if len(parts) > 1:
                clauses.append("(" + joiner.join(f"({p})" if " and " in p else p for p in parts) + ")")
            elif parts:
                clauses.append(parts[0])
        else:
            c = _condition(col, f)
            if c:
                clauses.append(c)
    return and_join(clauses)


def merge_query(query: str, extra: str) -> str:
    """The filter-bar query with more clauses appended."""
    if not extra:
        return query
    if not query:
        return extra
    return and_join([query, extra])

/* omnidash: functions the grids call from colDefs ({"function": "..."}) and grid options. */
var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});

/* Numbers that read well: 1e-4, 0.9312, 12.5, 20000; everything else as compact text. */
dagfuncs.omniFormatNumber = function (v) {
  if (typeof v !== "number" || !isFinite(v)) { return v === null || v === undefined ? "" : String(v); }
  if (Number.isInteger(v) && Math.abs(v) < 1e15) { return String(v); }
  var a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) {
    return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  }
  return String(parseFloat(v.toPrecision(a >= 1000 ? 6 : 4)));
};

dagfuncs.omniFormatValue = function (v) {
  if (v === null || v === undefined) { return ""; }
  if (typeof v === "number") { return dagfuncs.omniFormatNumber(v); }
  if (typeof v === "boolean") { return v ? "true" : "false"; }
  if (Array.isArray(v)) { return v.map(function (x) { return typeof x === "object" ? JSON.stringify(x) : String(x); }).join(", "); }
  if (typeof v === "object") { return JSON.stringify(v); }
  return String(v);
};

/* Notes as one line of plain text: Markdown marks, links, images, code fences and HTML tags dropped. */
dagfuncs.omniNotesExcerpt = function (v, max) {
  if (v === null || v === undefined) { return ""; }
  var t = String(v)
    .replace(/```[\s\S]*?(```|$)/g, " ")
    .replace(/!\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/<[^>]+>/g, " ")
    .replace(/^\s{0,3}(#{1,6}\s+|>\s?|[-*+]\s+\[[ xX]\]\s+|[-*+]\s+|\d+[.)]\s+)/gm, "")
    .replace(/^\s*([-*_]\s*){3,}$/gm, " ")
    .replace(/(\*\*|__|~~|`)/g, "")
    .replace(/(^|[\s(])[*_]([^*_\s][^*_]*?)[*_](?=[\s).,;:!?]|$)/g, "$1$2")
    .replace(/\s+/g, " ").trim();
  var n = max || 200;
  return t.length > n ? t.slice(0, n - 1).trimEnd() + "…" : t;
};

dagfuncs.omniTagsTooltip = function (v) {
  return Array.isArray(v) && v.length ? v.map(String).join(", ") : undefined;
};

/* ISO UTC time -> "2026-11-28 14:03:05" in the configured IANA timezone. */
var _timeFormats = {};
dagfuncs.omniFormatTime = function (v, tz) {
  if (!v) { return ""; }
  var d = new Date(v);
  if (isNaN(d.getTime())) { return String(v); }
  var key = tz || "UTC";
  if (key === "UTC") {  /* what the formatter gives, without building one (~10 ms, at the first rows) */
    var y = d.getUTCFullYear();
    if (y >= 1000 && y <= 9999) { return d.toISOString().slice(0, 19).replace("T", " "); }
  }
  var fmt = _timeFormats[key];
  if (!fmt) {
    try {
      fmt = new Intl.DateTimeFormat("sv-SE", { timeZone: key, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    } catch (e) {
      fmt = new Intl.DateTimeFormat("sv-SE", { timeZone: "UTC", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
    }
    _timeFormats[key] = fmt;
  }
  return fmt.format(d);
};

/* Seconds -> "2d 3h", "1h 02m", "3m 12s", "4.2s". */
dagfuncs.omniFormatDuration = function (s) {
  if (s === null || s === undefined || typeof s !== "number" || !isFinite(s)) { return ""; }
  var neg = s < 0 ? "-" : "";
  s = Math.abs(s);
  if (s < 10) { return neg + (Math.round(s * 10) / 10) + "s"; }
  if (s < 60) { return neg + Math.round(s) + "s"; }
  var m = Math.floor(s / 60), h = Math.floor(m / 60), d = Math.floor(h / 24);
  var pad = function (n) { return (n < 10 ? "0" : "") + n; };
  if (d > 0) { return neg + d + "d " + (h % 24) + "h"; }
  if (h > 0) { return neg + h + "h " + pad(m % 60) + "m"; }
  return neg + m + "m " + pad(Math.round(s % 60)) + "s";
};

/* "0.9312 ± 0.0041" for a group row's mean and std columns. */
dagfuncs.omniMeanStd = function (mean, std) {
  if (mean === null || mean === undefined) { return ""; }
  var text = dagfuncs.omniFormatNumber(mean);
  if (std === null || std === undefined) { return text; }
  return text + " ± " + dagfuncs.omniFormatNumber(std);
};

/* The AG Grid theme, with every colour taken from the page's CSS variables (so dark mode is dark). */
dagfuncs.omniGridTheme = function (themeQuartz) {
  return themeQuartz.withParams({
    backgroundColor: "var(--panel)",
    foregroundColor: "var(--text)",
    textColor: "var(--text)",
    borderColor: "var(--border)",
    chromeBackgroundColor: "var(--bg)",
    headerBackgroundColor: "var(--bg)",
    headerTextColor: "var(--text)",
    accentColor: "var(--accent)",
    oddRowBackgroundColor: "var(--row-alt, transparent)",
    rowHoverColor: "var(--row-hover)",
    selectedRowBackgroundColor: "var(--row-selected)",
    inputBackgroundColor: "var(--panel)",
    inputBorder: { color: "var(--border)" },
    menuBackgroundColor: "var(--panel)",
    tooltipBackgroundColor: "var(--panel)",
    fontFamily: "inherit",
    fontSize: 13,
    headerFontWeight: 600,
    rowHeight: 34,
    headerHeight: 38,
    spacing: 6,
    wrapperBorderRadius: 6,
  });
};

/* Group grid: keep each expanded group's runs right under their group row, whatever the sort. */
dagfuncs.omniKeepRunsUnderGroups = function (params) {
  var nodes = params.nodes;
  var groups = [], children = {};
  for (var i = 0; i < nodes.length; i++) {
    var d = nodes[i].data || {};
    if (d._member_of) {
      (children[d._member_of] = children[d._member_of] || []).push(nodes[i]);
    } else {
      groups.push(nodes[i]);
    }
  }
  var out = [];
  groups.forEach(function (g) {
    out.push(g);
    var kids = children[(g.data || {}).group_key];
    if (kids) { kids.sort(function (a, b) { return (a.data._order || 0) - (b.data._order || 0); }); out.push.apply(out, kids); }
  });
  nodes.length = 0;
  out.forEach(function (n) { nodes.push(n); });
};

dagfuncs.omniRunRowClass = function (params) {
  return params.data && params.data._member_of ? "group-member-row" : "";
};

dagfuncs.omniRowId = function (params) { return String(params.data.id); };
dagfuncs.omniGroupRowId = function (params) {
  var d = params.data;
  return d._member_of ? "m:" + d._member_of + ":" + d.id : "g:" + d.group_key;
};

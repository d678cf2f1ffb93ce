/* omnidash: cell renderers and editors used by the grids (React, from window.React). */
var dagcomponentfuncs = (window.dashAgGridComponentFunctions = window.dashAgGridComponentFunctions || {});

(function () {
  var h = function () { return window.React.createElement.apply(window.React, arguments); };

  /* Navigate inside the Dash app without a reload (what dcc.Link does). */
  function navigate(href, event) {
    if (event && (event.metaKey || event.ctrlKey || event.shiftKey || event.button === 1)) { return; }
    if (event) { event.preventDefault(); event.stopPropagation(); }
    window.history.pushState({}, "", href);
    window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
    window.scrollTo(0, 0);
  }
  window.omnidashNavigate = navigate;

  dagcomponentfuncs.RunIdCell = function (props) {
    if (props.value === null || props.value === undefined) { return h("span", { className: "cell-pending" }, "…"); }
    var base = (props.basePath || "/").replace(/\/?$/, "/");
    var href = base + "runs/" + encodeURIComponent(String(props.value));
    return h("a", { href: href, className: "run-link", title: "Open run " + props.value,
      onClick: function (e) { navigate(href, e); } }, String(props.value));
  };

  dagcomponentfuncs.StatusCell = function (props) {
    var s = props.value;
    if (!s) { return ""; }
    var key = String(s).toLowerCase();
    return h("span", { className: "status-cell status-" + key },
      h("span", { className: "status-dot", style: { background: "var(--status-" + key + ", var(--muted))" } }),
      String(s).replace("_", " ").toLowerCase());
  };

  /* Tags as chips; those that do not fit the column give way to a "+N" chip (all tags in its tooltip).
     The fit is measured: every chip is laid out once, then the cell keeps the ones that fit, and measures
     again when the column is resized. A new cell is measured by one ResizeObserver shared by every tags cell:
     its first report comes after the page's layout, for all new cells at once, so they are measured (all
     reads, then all updates) without a layout of their own; measuring each cell as it mounted forced one
     layout per row of a first block. A cell without tags measures nothing. */
  function chipsThatFit(el) {
    var chips = el.children, room = el.clientWidth, n = chips.length;
    var end = function (i) { return chips[i].offsetLeft + chips[i].offsetWidth; };
    for (var i = 0; i < chips.length; i++) { if (end(i) > room) { n = i; break; } }
    if (n < chips.length) { while (n > 0 && end(n - 1) > room - 40) { n--; } }
    return n;
  }
  var tagCells = new Map();  /* cell element -> {measure, apply} */
  var tagObserver = window.ResizeObserver ? new window.ResizeObserver(function (entries) {
    var cells = entries.map(function (e) { return tagCells.get(e.target); }).filter(Boolean);
    var sizes = cells.map(function (c) { return c.measure(); });
    cells.forEach(function (c, i) { c.apply(sizes[i]); });
  }) : null;

  dagcomponentfuncs.TagsCell = function (props) {
    var React = window.React;
    var tags = Array.isArray(props.value) ? props.value.map(String) : [];
    var ref = React.useRef(null);
    var st = React.useState(null), limit = st[0], setLimit = st[1];
    var shownAll = React.useRef(true);  /* this render shows every chip (limit null) */
    shownAll.current = limit === null;
    var remeasure = React.useRef(!tagObserver);  /* measure after this render (here, not by the observer) */
    var key = tags.join("\n");
    var mounted = React.useRef(false);
    React.useLayoutEffect(function () {  /* other tags: show them all, then fit them */
      if (mounted.current) { remeasure.current = true; setLimit(null); }
      mounted.current = true;
    }, [key]);
    React.useLayoutEffect(function () {
      var el = ref.current;
      if (el && remeasure.current && limit === null && tags.length) {
        remeasure.current = false;
        setLimit(chipsThatFit(el));
      }
    });
    var hasTags = tags.length > 0;
    React.useEffect(function () {
      var el = ref.current;
      if (!el || !tagObserver || !hasTags) { return undefined; }
      var width = null;
      tagCells.set(el, {
        measure: function () { return { width: el.clientWidth, fit: shownAll.current ? chipsThatFit(el) : null }; },
        apply: function (m) {
          if (width === null || m.width === width) {
            width = m.width;
            if (m.fit !== null) { setLimit(m.fit); }
          } else {  /* resized: show every chip again, fit them after that render */
            width = m.width;
            remeasure.current = true;
            setLimit(null);
          }
        }
      });
      tagObserver.observe(el);
      return function () { tagObserver.unobserve(el); tagCells.delete(el); };
    }, [hasTags]);
    var shown = limit === null ? tags : tags.slice(0, limit);
    var rest = tags.length - shown.length;
    var chips = shown.map(function (t, i) { return h("span", { className: "tag-chip", key: i }, t); });
    if (rest > 0) {
      chips.push(h("span", { className: "tag-chip tag-more", key: "more", title: tags.join(", "),
        "aria-label": rest + " more tag" + (rest === 1 ? "" : "s") + ": " + tags.slice(shown.length).join(", ") },
        "+" + rest));
    }
    return h("span", { className: "tags-cell", ref: ref }, chips);
  };

  /* Tags editor: comma-separated text with suggestions of existing tags for the word being typed. */
  dagcomponentfuncs.TagsEditor = function (props) {
    var React = window.React;
    var initial = Array.isArray(props.value) ? props.value.join(", ") : (props.value || "");
    var st = React.useState(initial), text = st[0], setText = st[1];
    var ref = React.useRef(null);
    var redraw = React.useState(0)[1];
    React.useEffect(function () {
      if (ref.current) { ref.current.focus(); }
      var arrived = function () { redraw(function (n) { return n + 1; }); };
      window.addEventListener("omnidash:tag-options", arrived);
      if (window.omnidashWantTagOptions) { window.omnidashWantTagOptions(); }  /* assets/table.js */
      return function () { window.removeEventListener("omnidash:tag-options", arrived); };
    }, []);
    var parse = function (t) {
      var seen = {};
      return t.split(",").map(function (x) { return x.trim(); }).filter(function (x) {
        if (!x || seen[x]) { return false; } seen[x] = true; return true;
      });
    };
    var update = function (t) { setText(t); props.onValueChange(parse(t)); };
    var parts = text.split(",");
    var word = parts[parts.length - 1].trim().toLowerCase();
    var chosen = parse(text);
    var options = (window.omnidashTagOptions || []).filter(function (t) {
      return chosen.indexOf(t) < 0 && (!word || t.toLowerCase().indexOf(word) >= 0);
    }).slice(0, 8);
    var pick = function (t) {
      parts[parts.length - 1] = (parts.length > 1 ? " " : "") + t;
      update(parts.join(",") + ", ");
      if (ref.current) { ref.current.focus(); }
    };
    return h("div", { className: "tags-editor" },
      h("input", { ref: ref, value: text, className: "tags-editor-input", placeholder: "tag1, tag2",
        "aria-label": "Tags", onChange: function (e) { update(e.target.value); } }),
      h("div", { className: "tags-editor-hint" }, "Comma-separated. Enter saves, Esc cancels."),
      options.length ? h("ul", { className: "tags-editor-options", role: "listbox" }, options.map(function (t) {
        return h("li", { key: t, role: "option", onMouseDown: function (e) { e.preventDefault(); pick(t); } }, t);
      })) : null);
  };

  /* Group grid: the toggle that shows a group's runs under it. */
  dagcomponentfuncs.GroupToggleCell = function (props) {
    var d = props.data || {};
    if (d._member_of) {
      var base = (props.basePath || "/").replace(/\/?$/, "/");
      var href = base + "runs/" + encodeURIComponent(String(d.id));
      return h("a", { href: href, className: "run-link member-link", onClick: function (e) { navigate(href, e); } },
        "run " + d.id);
    }
    var open = !!d._expanded;
    return h("button", { className: "group-toggle", title: open ? "Hide runs" : "Show runs",
      onClick: function (e) {
        e.stopPropagation();
        /* a Store, not the grid's setData: its cellRendererData prop makes AG Grid warn of an invalid option */
        window.dash_clientside.set_props("tbl-group-toggle", { data: { toggle: d.group_key, t: Date.now() } });
      } }, (open ? "▾ " : "▸ ") + d.n + (d.n === 1 ? " run" : " runs"));
  };
})();

/* omnidash runs table: URL state (pushState, popstate) and grid cache control, as clientside callbacks. */
(function () {
  /* The parameters whose change makes a new history entry; a change of column widths (`w`) alone replaces
     the current entry, so Back does not step through every resize. */
  var ORDER = ["q", "sort", "cols", "pin", "group", "ps", "varying"];
  var DEFAULT_PIN = "id,experiment";  /* components.columns.DEFAULT_PINNED */
  var DEFAULT_SORT = "-id";
  var DEFAULT_PS = 100;

  /* `w=config.lr:140,status:90`: view.w holds [name, px] pairs, sorted by name as table_state.clean_widths
     sorts them. */
  function widthsParam(pairs) {
    return (pairs || []).slice().sort(function (a, b) { return a[0] < b[0] ? -1 : (a[0] > b[0] ? 1 : 0); })
      .map(function (p) { return p[0] + ":" + p[1]; }).join(",");
  }

  /* The canonical query string of a view (the Python side parses it in table_state.view_from_params);
     defaultPs is the source's default page size, left out like every other default. */
  function viewToSearch(view, defaultPs) {
    var p = new URLSearchParams();
    if (!view) { return ""; }
    if (view.q) { p.set("q", view.q); }
    var sort = (view.sort || []).join(",");
    if (sort && sort !== DEFAULT_SORT) { p.set("sort", sort); }
    if (view.cols && view.cols.length) { p.set("cols", view.cols.join(",")); }
    if (view.pin) {  /* null: the default pins; []: none (`pin=-`) */
      var pins = view.pin.join(",");
      if (pins !== DEFAULT_PIN) { p.set("pin", pins || "-"); }
    }
    if (view.group && view.group.length) { p.set("group", view.group.join(",")); }
    if (view.ps && view.ps !== (defaultPs || DEFAULT_PS)) { p.set("ps", String(view.ps)); }
    var widths = widthsParam(view.w);
    if (widths) { p.set("w", widths); }
    if (view.varying === false) { p.set("varying", "0"); }
    var s = p.toString();
    return s ? "?" + s : "";
  }

  function sameParams(a, b) {
    var pa = new URLSearchParams(a), pb = new URLSearchParams(b);
    for (var i = 0; i < ORDER.length; i++) {
      if ((pa.get(ORDER[i]) || "") !== (pb.get(ORDER[i]) || "")) { return false; }
    }
    return true;
  }

  function locationProps() {
    try {
      var l = window.dash_component_api.getLayout("url");
      return (l && l.props) || null;
    } catch (e) { return null; }
  }

  /* Back/Forward to another view of this page: dcc.Location only notices a change from its last known
     search, which our pushState calls bypass. When it would not notice, ask the table page to re-render.
     Registered in the capture phase so it runs before dcc.Location's own listener. */
  window.addEventListener("popstate", function () {
    if (!document.getElementById("tbl-grid") && !document.getElementById("tbl-groups")) { return; }
    var props = locationProps();
    if (!props) { return; }
    if (props.pathname === window.location.pathname && (props.search || "") === window.location.search) {
      window.dash_clientside.set_props("tbl-popstate", { data: { search: window.location.search, t: Date.now() } });
    }
  }, true);

  function withGrid(id, fn) {
    if (!window.dash_ag_grid || !window.dash_ag_grid.getApiAsync) { return; }
    window.dash_ag_grid.getApiAsync(id).then(function (api) { if (api && !api.isDestroyed()) { fn(api); } })
      .catch(function () { /* the grid is gone (page changed) */ });
  }

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.omnidash_table = {
    /* Commit a view to the URL: replaceState for the view a page was rendered with, pushState after. */
    pushUrl: function (view, defaults) {
      var search = viewToSearch(view, defaults && defaults.ps);
      var ctx = window.dash_clientside.callback_context;
      var initial = !ctx || !ctx.triggered || !ctx.triggered.length || ctx.triggered[0].prop_id === ".";
      if (window.location.pathname && search === window.location.search) { return window.dash_clientside.no_update; }
      var url = window.location.pathname + search + window.location.hash;
      if (initial || sameParams(search, window.location.search)) {
        window.history.replaceState(window.history.state, "", url);
      } else {
        window.history.pushState({ omnidashTable: true }, "", url);
      }
      return search;
    },
    purge: function (token) {
      if (token) { withGrid("tbl-grid", function (api) { api.purgeInfiniteCache(); }); }
      return window.dash_clientside.no_update;
    },
    softRefresh: function (token) {
      if (token) { withGrid("tbl-grid", function (api) { api.refreshInfiniteCache(); }); }
      return window.dash_clientside.no_update;
    },
    /* Ids of RUNNING (or probably dead) rows currently loaded, for the refresh tick. */
    runningIds: function (n) {
      var out = null;
      var api = window.dash_ag_grid && window.dash_ag_grid.getApi ? null : null;
      try { api = window.dash_ag_grid.getApi("tbl-grid"); } catch (e) { api = null; }
      if (!api || api.isDestroyed()) { return { ids: [], t: Date.now() }; }
      out = [];
      api.forEachNode(function (node) {
        var d = node.data;
        if (d && (d.status === "RUNNING" || d.status === "PROBABLY_DEAD" || d.status === "QUEUED")) { out.push(d.id); }
      });
      return { ids: out.slice(0, 500), t: Date.now() };
    },
    /* Update refreshed rows in place (no cellValueChanged, no scroll jump). */
    applyRows: function (rows) {
      if (rows && rows.length) {
        withGrid("tbl-grid", function (api) {
          rows.forEach(function (r) {
            var node = api.getRowNode(String(r.id));
            if (node && node.data) { node.setData(Object.assign({}, node.data, r)); }
          });
        });
      }
      return window.dash_clientside.no_update;
    },
    setTagOptions: function (tags) {
      window.omnidashTagOptions = tags || [];
      return window.dash_clientside.no_update;
    },
    deselectAll: function (n) {
      if (n) { withGrid("tbl-grid", function (api) { api.deselectAll(); }); }
      return window.dash_clientside.no_update;
    },
    togglePicker: function (n, hidden) {
      return n ? !hidden : window.dash_clientside.no_update;
    },
    /* Double-click on a row (outside the editable tags and notes cells) opens the run's page. */
    openRun: function (cell) {
      if (cell && cell.colId !== "tags" && cell.colId !== "notes" && cell.rowId !== undefined && cell.rowId !== null) {
        var brand = document.querySelector(".topbar .brand");
        var base = ((brand && brand.getAttribute("href")) || "/").replace(/\/?$/, "/");
        window.omnidashNavigate(base + "runs/" + encodeURIComponent(String(cell.rowId)));
      }
      return window.dash_clientside.no_update;
    },
    viewToSearch: viewToSearch
  };
})();

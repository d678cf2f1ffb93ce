/* omnidash runs table: URL state (pushState, popstate) and grid cache control, as clientside callbacks. */
(function () {
  /* The parameters whose change makes a new history entry; a change of column widths (`w`) alone replaces
     the current entry, so Back does not step through every resize. */
  var ORDER = ["q", "sort", "cols", "pin", "group", "ps", "varying"];
  var DEFAULT_PIN = "id,experiment";  /* components.columns.DEFAULT_PINNED */
  var DEFAULT_SORT = "-id";
  var DEFAULT_PS = 100;
  var PRELOAD = "tbl-preload";  /* components.table.PRELOAD */

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

  /* The tag list the tag inputs suggest is read from the server when a tag input is first used (the bulk
     bar's tag field, a tags cell's editor), and again when it is older than the server's cache of it: a
     scan of the tag index is not worth making at every load for users who never tag. Each table page
     asks anew (the time asked is kept on its datalist, which a new page replaces). */
  var TAG_LIST_FRESH_MS = 20000;  /* omnidash.store.cache.TTL_SECONDS */
  window.omnidashWantTagOptions = function () {
    var list = document.getElementById("tbl-tag-datalist");
    var now = Date.now();
    if (!list || now - Number(list.dataset.asked || 0) < TAG_LIST_FRESH_MS) { return; }
    list.dataset.asked = String(now);
    window.dash_clientside.set_props("tbl-tags-wanted", { data: now });
  };
  document.addEventListener("focusin", function (e) {
    if (e.target && e.target.id === "tbl-bulk-tag") { window.omnidashWantTagOptions(); }
  });

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
  /* A sortModel as the server's table_state.sort_from_model writes it: ["-config.lr", "id"]. */
  function sortKeys(model) {
    var keys = (model || []).filter(function (m) { return m && m.colId; })
      .map(function (m) { return (m.sort === "desc" ? "-" : "") + m.colId; });
    return keys.length ? keys : [DEFAULT_SORT];
  }

  /* The grid's answer ({rowData, rowCount}) to a request for rows, from a block of rows the server sent ahead
     (tbl-preload: the page's first block, or a filter's); null when the block is not the one asked for. */
  function fromBlock(req, block) {
    if (!block || req.startRow !== 0 || req.endRow > block.end || Object.keys(req.filterModel || {}).length ||
        sortKeys(req.sortModel).join(",") !== (block.sort || []).join(",")) { return null; }
    return { rowData: req.endRow < block.rows.length ? block.rows.slice(0, req.endRow) : block.rows,
             rowCount: block.total };
  }

  var used = new WeakSet();  /* blocks answered in place, until tbl-preload is cleared */

  function preloadedBlock() {
    try {
      var l = window.dash_component_api.getLayout(PRELOAD);
      return (l && l.props && l.props.data) || null;
    } catch (e) { return null; }
  }

  /* dash-ag-grid hands every request of the infinite row model to Dash: getRowsRequest, the firstRows callback,
     getRowsResponse, a re-render of the grid, then the rows. A request tbl-preload can answer (the page's first
     block, the first block after a filter) is answered here, in the datasource itself, before it leaves, and
     skips that trip. Other requests go on as before. */
  function answerInPlace(api) {
    var ds = api && api.getGridOption("datasource");
    if (!ds || ds.omnidashInPlace) { return; }
    var getRows = ds.getRows;
    ds.omnidashInPlace = true;
    ds.getRows = function (req) {
      var block = preloadedBlock();
      var answer = used.has(block) ? null : fromBlock(req, block);
      if (!answer) { return getRows.apply(ds, arguments); }
      used.add(block);
      req.successCallback(answer.rowData, answer.rowCount);
      /* used once, as firstRows does; after the rows are drawn (a store update reaches every component) */
      setTimeout(function () {
        if (preloadedBlock() === block) { window.dash_clientside.set_props(PRELOAD, { data: null }); }
      }, 100);
    };
  }

  /* The runs grid's getRowClass (components/table.py): AG Grid calls it, with the grid's API, for the loading
     row it draws as soon as dash-ag-grid has set its datasource, before the first request leaves
     (blockLoadDebounceMillis): the earliest hook that has the datasource. No class. */
  var dagfuncs = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  dagfuncs.omniRunsRowClass = function (params) {
    answerInPlace(params.api);
    return "";
  };

  window.dash_clientside.omnidash_table = {
    /* The grid's columnState -> tbl-column-state, only when the order, the pins or a width changed since the
       grid last reported (not for a sort, nor for the report a new grid makes as it mounts). */
    columnMoves: function (state, last) {
      var nu = window.dash_clientside.no_update;
      if (!state) { return [nu, nu]; }
      var key = JSON.stringify(state.filter(function (s) { return s && s.colId && !s.hide; })
        .map(function (s) { return [s.colId, s.pinned || null, s.width || null]; }));
      if (last === null || last === undefined) { return [nu, key]; }
      return key === last ? [nu, nu] : [state, key];
    },

    /* The grid asks for a block of rows (dash-ag-grid's getRowsRequest): answer from tbl-preload when it holds
       the block (answerInPlace above normally has, before the request got here); send every other request to
       the server (tbl-rows-request). The preload is used once. */
    firstRows: function (req, preload) {
      var nu = window.dash_clientside.no_update;
      if (!req) { return [nu, nu, nu]; }
      var clean = { startRow: req.startRow, endRow: req.endRow, sortModel: req.sortModel || [],
                    filterModel: req.filterModel || {} };
      var answer = used.has(preload) ? null : fromBlock(clean, preload);
      if (answer) { return [answer, nu, null]; }
      return [nu, clean, preload ? null : nu];
    },

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
      window.dispatchEvent(new CustomEvent("omnidash:tag-options"));  /* an open tags editor shows them */
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

/* omnidash: a callback the server refused (a role, a signed-out session) or failed to run shows a notice in
   the page, on every page, not only a line in the browser console. Dash calls the server through fetch;
   this watches those calls and leaves everything else alone. */
(function () {
  if (!window.fetch || window.omnidashNotify) { return; }
  var NOTICE_ID = "omnidash-notice";

  function show(title, detail) {
    var box = document.getElementById(NOTICE_ID);
    if (!box) {
      box = document.createElement("div");
      box.id = NOTICE_ID;
      box.className = "omnidash-notice";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    box.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = title;
    box.appendChild(strong);
    if (detail) { box.appendChild(document.createTextNode(" " + detail)); }
    var close = document.createElement("button");
    close.className = "notice-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.onclick = function () { box.remove(); };
    box.appendChild(close);  /* it stays until dismissed: a refusal must not go unseen */
  }
  window.omnidashNotify = show;

  function describe(status, error) {
    if (status === 403) { return ["Not allowed:", (error || "your role cannot do this") + ". Nothing was changed."]; }
    if (status === 401) { return ["Signed out:", "sign in again, then retry."]; }
    if (status === 409) { return ["Not saved:", (error || "this dashboard is read-only") + "."]; }
    if (status === 413) { return ["Not saved:", "the request is too large."]; }
    if (status >= 500) {
      return ["The server failed (HTTP " + status + "):", "the last action may not have been done. Try again, or reload."];
    }
    return ["The server refused the request (HTTP " + status + ").", error || ""];
  }

  var original = window.fetch;
  window.fetch = function (input, init) {
    var url = typeof input === "string" ? input : (input && input.url) || "";
    var promise = original.apply(this, arguments);
    if (url.indexOf("_dash-update-component") < 0) { return promise; }
    return promise.then(function (response) {
      if (response.ok || response.status === 204) { return response; }
      response.clone().json().catch(function () { return {}; }).then(function (body) {
        var text = describe(response.status, body && typeof body.error === "string" ? body.error : "");
        show(text[0], text[1]);
      });
      return response;
    }, function (err) {
      show("The server cannot be reached:", "the last action was not done. Check the connection and retry.");
      throw err;
    });
  };
})();

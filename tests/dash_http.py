"""Dash callbacks called over HTTP (/_dash-update-component) exactly as the browser calls them."""

from __future__ import annotations

import json
from typing import Any


def dash_call(app: Any, output: str, inputs: dict[str, Any], state: dict[str, Any] | None = None,
              triggered: str | None = None, pattern: dict[str, list[tuple[dict, Any]]] | None = None) -> dict[str, Any]:
    """POST the callback with an output `output` ("id.prop") and these inputs; {"id.prop": value} back.

    Wildcard (pattern-matching) inputs match the (id, value) pairs `pattern` gives for their "type", else none."""
    def names(specs: list[dict[str, Any]]) -> set[str]:
        return {f"{s['id']}.{s['property']}" for s in specs}

    keys = [k for k, spec in app.callback_map.items()
            if any(p.split("@")[0] == output for p in k.strip(".").split("..."))
            and set(inputs) <= names(spec["inputs"])]
    assert len(keys) == 1, keys
    key = keys[0]
    spec = app.callback_map[key]
    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    outputs = [{"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]} for p in parts]

    def items(specs: list[dict[str, Any]], values: dict[str, Any] | None) -> list[Any]:
        out: list[Any] = []
        for s in specs:
            if isinstance(s["id"], str) and s["id"].startswith("{"):
                kind = json.loads(s["id"]).get("type")
                out.append([{"id": i, "property": s["property"], "value": v} for i, v in (pattern or {}).get(kind, [])])
                continue
            out.append({"id": s["id"], "property": s["property"],
                        "value": (values or {}).get(f"{s['id']}.{s['property']}")})
        return out

    payload = {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
               "inputs": items(spec["inputs"], inputs), "state": items(spec["state"], state),
               "changedPropIds": [triggered or next(iter(inputs))]}
    resp = app.server.test_client().post("/_dash-update-component", json=payload)
    if resp.status_code == 204:
        return {}
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    body = json.loads(resp.data)["response"]
    return {f"{c}.{p}": v for c, props in body.items() for p, v in props.items()}


def page(app: Any, path: str, search: str = "") -> Any:
    """The page the router renders for a URL (through /_dash-update-component)."""
    return dash_call(app, "page-content.children", {"url.pathname": path, "url.search": search})[
        "page-content.children"]

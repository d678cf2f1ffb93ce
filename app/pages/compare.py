"""Placeholder page (being built)."""

from __future__ import annotations

from dash import Dash, html

from app.pages import Page


def layout(**params):
    return html.Div([html.H2("Compare"), html.P("Coming soon.")], className="page")


def register(app: Dash) -> None:
    """No callbacks yet."""


PAGE = Page(name="compare", path="/compare", layout=layout, register=register, title="Compare")

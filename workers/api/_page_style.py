"""What every page shares: the style sheet and the bar on top (the dashboard, a search box
that finds an account, and, behind a login, the logout button with the session's CSRF token).
"""

from __future__ import annotations

from importlib.resources import files
from urllib.parse import quote

from jinja2 import Environment, Template
from markupsafe import Markup, escape

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; background: #f6f7f9; }
h1 { font-size: 20px; margin: 0 0 4px; } h3 { font-size: 13px; margin: 12px 0 4px; }
.meta { color: #5b6673; margin-bottom: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 16px; }
section.wide { grid-column: 1 / -1; }
section { overflow-x: auto; background: #fff; border: 1px solid #dde1e6; border-radius: 6px;
          padding: 12px 16px; }
h2 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f3;
         vertical-align: top; }
td.met { color: #17803d; } td.missed { color: #b42318; }
.none { color: #8a94a0; }
nav { display: flex; gap: 12px; align-items: center; margin-bottom: 16px; }
nav form { display: inline; margin: 0; }
ol.timeline { list-style: none; padding-left: 0; border-left: 2px solid #dde1e6; }
ol.timeline li { margin: 0 0 8px 0; padding-left: 12px; }
ol.timeline time { color: #5b6673; margin-right: 8px; }
.who { color: #2563eb; margin-right: 6px; } .seen { color: #5b6673; font-size: 12px; }
.error { color: #b42318; }
"""


def header(csrf: str | None, query: str = "") -> Markup:
    """The bar on top of every page; ``csrf`` when a session is logged in."""
    logout = (
        Markup(
            '<form method="post" action="/logout"><input type="hidden" name="csrf" value="{}">'
            '<button type="submit">Log out</button></form>'
        ).format(csrf)
        if csrf
        else ""
    )
    return Markup(
        '<nav><a href="/dashboard">Dashboard</a>'
        '<form method="get" action="/accounts" role="search">'
        '<input type="search" name="q" placeholder="find an account" value="{}"'
        ' aria-label="account">'
        ' <button type="submit">Find</button></form>{}</nav>'
    ).format(escape(query), logout)


_ENV = Environment(autoescape=True)
_ENV.filters["urlencode_id"] = lambda text: quote(text, safe="")


def template(name: str) -> Template:
    """A page's template from ``workers/api/templates`` (HTML, kept out of the code)."""
    return _ENV.from_string((files("workers.api") / "templates" / name).read_text("utf-8"))

"""The dashboard as a web page: server-rendered HTML with inline SVG bar charts.

Account ids link to the account's page. No JavaScript, no build step, nothing fetched from
elsewhere (the page must work on a laptop without network): one request computes the
:class:`~engine.dashboard._numbers.Report` and renders the same sections ``playbook report``
prints. Rows carry ``data-key`` so tests and scripts can read a number without parsing layout.
"""

from __future__ import annotations

from urllib.parse import quote

from jinja2 import Environment

from engine.dashboard._layout import Section
from engine.dashboard._numbers import Report
from engine.dashboard._view import sections, title
from workers.api._page_style import STYLE, header

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }}</title>
<style>{{ style | safe }}</style>
</head>
<body>
{{ top | safe }}
<h1>{{ heading }}</h1>
<div class="meta">generated {{ generated }} UTC from Temporal visibility and the engine's store
&middot; <a href="?period=30d">30 days</a> &middot; <a href="?period=90d">90 days</a>
&middot; JSON: <code>playbook report --json</code></div>
<div class="grid">
{% for s in sections %}
<section id="{{ s.key }}"{% if s.headers | length > 5 %} class="wide"{% endif %}>
<h2>{{ s.title }}</h2>
{% if s.bars %}{{ chart(s) | safe }}{% endif %}
{% if s.rows %}
<table>
<thead><tr>{% for h in s.headers %}<th>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in s.rows %}<tr data-key="{{ row.key }}">
{% for cell in row.cells -%}
<td{% if cell in ('met', 'missed') %} class="{{ cell }}"{% endif %}>
{%- if loop.first and row.account -%}
<a href="/accounts/{{ row.account | urlencode_id }}">{{ cell }}</a>
{%- else %}{{ cell }}{% endif %}</td>
{%- endfor %}
</tr>
{% endfor %}</tbody>
</table>
{% else %}<p class="none">none</p>{% endif %}
</section>
{% endfor %}
</div>
</body>
</html>
"""

_COLOURS = {
    "healthy": "#17803d",
    "good": "#65a30d",
    "at-risk": "#d97706",
    "critical": "#b42318",
    "starting": "#2563eb",
    "expansion": "#17803d",
    "contraction": "#d97706",
    "churned": "#b42318",
    "new": "#7c3aed",
}


def _chart(section: Section) -> str:
    """A horizontal bar chart of ``section.bars`` as inline SVG."""
    width, label, row = 360, 90, 22
    top = max((value for _, value in section.bars), default=0.0) or 1.0
    parts = [
        f'<svg role="img" aria-label="{section.title}" width="{width}"'
        f' height="{row * len(section.bars) + 4}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, (name, value) in enumerate(section.bars):
        y = index * row + 2
        length = (width - label - 70) * value / top
        colour = _COLOURS.get(name, "#64748b")
        shown = f"{value:,.0f}"
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12">{name}</text>'
            f'<rect x="{label}" y="{y}" width="{length:.1f}" height="16" fill="{colour}"/>'
            f'<text x="{label + length + 4:.1f}" y="{y + 13}" font-size="12">{shown}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


_ENV = Environment(autoescape=True)
_ENV.filters["urlencode_id"] = lambda text: quote(text, safe="")
_TEMPLATE = _ENV.from_string(_PAGE)


def render(report: Report, csrf: str | None = None) -> str:
    """The whole page for ``report``; ``csrf`` when a login session shows it."""
    return _TEMPLATE.render(
        style=STYLE,
        top=header(csrf),
        heading=title(report),
        generated=report.generated_at.strftime("%Y-%m-%d %H:%M:%S"),
        sections=sections(report),
        chart=_chart,
    )

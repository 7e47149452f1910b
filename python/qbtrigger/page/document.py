"""The page itself: one HTML file holding plotly.js, the numbers, the figures and the stuck list.

Self-contained: plotly.js is written into the page (from the installed plotly package), styles are
inline, and nothing refers to another file or to the network, so the page opens offline and can be
mailed or attached to a ticket as it is.
"""

from __future__ import annotations

import html
from typing import Iterable, List, Optional, Sequence, Tuple

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from .style import PLOTLY_CONFIG, PROBLEM_COLOR

__all__ = ["Section", "render_page", "numbers_html", "table_html"]

#: A part of the page: its id (the element the browser test looks for), its heading, a figure or
#: ready HTML, and a note under the heading.
Section = Tuple[str, str, "go.Figure | str", str]

_STYLE = f"""
body {{ font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 1.5em 2em; color: #222; }}
h1 {{ font-size: 1.35em; margin: 0.8em 0 0.2em; }}
h2 {{ font-size: 1.1em; margin: 1.2em 0 0.2em; border-bottom: 1px solid #ddd; }}
p.note {{ margin: 0.2em 0 0.5em; color: #555; font-size: 0.9em; }}
dl.numbers {{ display: flex; flex-wrap: wrap; gap: 0.4em 1.6em; margin: 0.6em 0; }}
dl.numbers div {{ min-width: 7em; }}
dl.numbers dt {{ color: #666; font-size: 0.8em; }}
dl.numbers dd {{ margin: 0; font-size: 1.25em; font-weight: 600; }}
div.scroll {{ max-height: 16em; overflow: auto; border: 1px solid #eee; }}
table {{ border-collapse: collapse; font-size: 0.85em; }}
th, td {{ padding: 0.15em 0.7em; text-align: left; border-bottom: 1px solid #f0f0f0; }}
th {{ position: sticky; top: 0; background: #fafafa; }}
td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.stuck {{ color: {PROBLEM_COLOR}; }}
ul.stuck li {{ margin: 0.3em 0; }}
ul.stuck ul {{ color: #333; }}
"""


def render_page(title: str, sections: Sequence[Section]) -> str:
    """The whole page: a title, then each section in order."""
    parts: List[str] = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for section_id, heading, content, note in sections:
        parts.append(f'<section id="{section_id}">')
        if heading:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
        if isinstance(content, go.Figure):
            parts.append(content.to_html(full_html=False, include_plotlyjs=False, config=PLOTLY_CONFIG,
                                         div_id=f"{section_id}-plot"))
        else:
            parts.append(content)
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def numbers_html(numbers: Iterable[Tuple[str, str]]) -> str:
    """The numbers at the top, as name/value pairs."""
    cells = "".join(f"<div><dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd></div>" for k, v in numbers)
    return f'<dl class="numbers">{cells}</dl>'


def table_html(header: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = (),
               row_class: Optional[Sequence[str]] = None) -> str:
    """A scrolling table; columns whose index is in ``numeric`` are right-aligned."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        cells = "".join(
            f'<td class="n">{html.escape(_number(v))}</td>' if c in numeric else f"<td>{html.escape(str(v))}</td>"
            for c, v in enumerate(row)
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)

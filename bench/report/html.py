"""The report as one self-contained HTML file: the markdown's own text, rendered, with the
charts embedded as base64 PNG.

Why render the markdown rather than build HTML from the section functions a second time: the
HTML must have the same sections and the same numbers as ``README.md``, and the surest way is
that there is only one text. :func:`bench.report.markdown.render_markdown` produces it once;
this module turns exactly that text into HTML with markdown-it-py (a well-kept CommonMark
parser with GitHub's pipe tables, already installed with ``rich``), so a figure cannot differ
between the two files. Raw HTML in the text is escaped (``html=False``: an error message from a
provider is shown, never interpreted), and bare URLs are not turned into links.

Self-contained: images become ``data:image/png;base64,…`` URIs, the style sheet is inline,
there is no script, no web font and no link to anything, so the file opens offline and can be
mailed or attached as is. Readable on a phone: a viewport meta tag, fluid images, and every
table inside a box that scrolls horizontally instead of squeezing its columns.

Same runs, same bytes: the markdown is deterministic and so are the PNGs.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: The whole style sheet. Light on light pages, dark on dark ones; charts keep their own
#: white background (they are drawn to read on either).
CSS = """
:root { color-scheme: light dark; --fg: #1f2328; --bg: #ffffff; --muted: #59636e; --line: #d1d9e0;
  --head: #f6f8fa; --note: #fff8c5; --note-line: #d4a72c; --code: #eff1f3; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --bg: #0d1117; --muted: #9198a1; --line: #3d444d; --head: #151b23;
    --note: #2e2a17; --note-line: #9e6a03; --code: #262c36; }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { margin: 0 auto; padding: 1rem; max-width: 1100px; color: var(--fg); background: var(--bg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0.4rem 0 1rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.75rem; padding-bottom: 0.3rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; }
p, ul { margin: 0 0 0.9rem; }
code { font: 0.88em/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: var(--code);
  padding: 0.1em 0.3em; border-radius: 4px; overflow-wrap: anywhere; }
blockquote { margin: 0 0 1rem; padding: 0.6rem 0.9rem; background: var(--note); border-left: 4px solid var(--note-line);
  border-radius: 4px; }
blockquote p, blockquote ul { margin: 0.2rem 0; }
.table-scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: 0 0 1rem; border: 1px solid var(--line);
  border-radius: 6px; }
table { border-collapse: collapse; font-size: 0.88rem; font-variant-numeric: tabular-nums; min-width: 100%; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: top; }
th { background: var(--head); position: sticky; top: 0; text-align: left; }
tr:last-child td { border-bottom: none; }
img { display: block; max-width: 100%; height: auto; margin: 0.5rem 0 1.2rem; border: 1px solid var(--line);
  border-radius: 6px; background: #ffffff; }
@media (max-width: 600px) { body { padding: 0.6rem; font-size: 14px; } h1 { font-size: 1.3rem; }
  th, td { padding: 0.3rem 0.45rem; } }
@media print { .table-scroll { overflow: visible; border: none; } th { position: static; } }
""".strip()


def _parser(images: Mapping[str, bytes]) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

    def image(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        alt = html.escape(token.content or "", quote=True)
        data = images.get(src)
        if data is None:  # not a chart we drew: keep the text, never a link to elsewhere
            return f"<em>[{alt}]</em>"
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        return f'<img src="{uri}" alt="{alt}" loading="lazy">'

    def table_open(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return '<div class="table-scroll"><table>\n'

    def table_close(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        return "</table></div>\n"

    # add_render_rule binds each function to the renderer as a method (hence ``renderer``).
    md.add_render_rule("image", image)
    md.add_render_rule("table_open", table_open)
    md.add_render_rule("table_close", table_close)
    return md


def _title(markdown_text: str) -> str:
    for line in markdown_text.splitlines():
        if line.startswith("# "):
            return line[2:].strip().replace("`", "")
    return "Benchmark report"


def render_html(markdown_text: str, images: Mapping[str, bytes]) -> str:
    """The report's HTML from its markdown text; ``images`` maps each chart's file name (as the
    markdown links it) to its PNG bytes, embedded in place."""
    body = _parser(images).render(markdown_text)
    title = html.escape(_title(markdown_text))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="bench report">\n'
        f"<title>{title}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n<main>\n"
        f"{body}</main>\n</body>\n</html>\n"
    )


__all__ = ["CSS", "render_html"]

"""Package READMEs rendered from Markdown, safely: raw HTML in the text is shown as text, and
links other than http(s), mailto and relative ones are not made links (markdown-it's own check)."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_renderer = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def render_markdown(text: str) -> Markup:
    return Markup(_renderer.render(text))

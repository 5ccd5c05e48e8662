"""Markdown for lessons and lab steps, sanitised: authored text cannot inject script."""

import re
from functools import lru_cache

import bleach
import markdown as md

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": ["class", "id", "title"],
    "a": ["href", "title", "rel"],
    "img": ["src", "alt", "title", "width", "height"],
    "td": ["align"],
    "th": ["align"],
}


# ```bash run  marks a code block runnable: the page gives it a button that types it into the terminal.
RUNNABLE_FENCE = re.compile(r"^(\s*)```([\w+-]+)[ \t]+run[ \t]*$", re.MULTILINE)


@lru_cache(maxsize=4096)  # the same text always renders the same: a course reload renders only what changed
def render(text: str) -> str:
    text = RUNNABLE_FENCE.sub(r"\1```{ .\2 .run }", text)
    # baselevel=2: the page owns the one <h1>; an author's "# Heading" becomes an <h2>.
    html = md.markdown(
        text,
        extensions=["fenced_code", "attr_list", "tables", "sane_lists", "toc"],
        extension_configs={"toc": {"baselevel": 2}},
        output_format="html",
    )
    return bleach.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols={"http", "https", "mailto"},
        strip=True,
    )

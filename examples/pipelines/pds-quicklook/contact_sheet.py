"""Gather quicklook PNGs into a contact sheet: the `contact-sheet` step of pds-quicklook.

Usage: python3 contact_sheet.py TITLE [PNG ...]

Copies the PNGs into `quicklooks/` (a name taken twice gets `-2`, `-3`, ... before
`.png`) and writes `quicklooks/index.html`: one <figure> per image, captioned with the
product name (the PNG's name without `.png`), sorted by name. Names are HTML-escaped and
URL-quoted. Standard library only.
"""

from __future__ import annotations

import html
import os
import shutil
import sys
from urllib.parse import quote

OUT_DIR = "quicklooks"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5rem; }}
.grid {{ display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 1rem; }}
figure {{ margin: 0; padding: 0.5rem; border: 1px solid #ccc; background: #fafafa; }}
img {{ width: 100%; height: auto; image-rendering: pixelated; background: #000; }}
figcaption {{ font-size: 0.8rem; word-break: break-all; margin-top: 0.3rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{count}</p>
<div class="grid">
{figures}
</div>
</body>
</html>
"""


def unique_name(name: str, taken: set[str]) -> str:
    stem, suffix = os.path.splitext(name)
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    taken.add(candidate)
    return candidate


def figure(file_name: str, caption: str) -> str:
    src = html.escape(quote(file_name), quote=True)
    alt = html.escape(caption, quote=True)
    return (f'<figure><img src="{src}" alt="{alt}" loading="lazy">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def build(title: str, pngs: list[str], out_dir: str = OUT_DIR) -> str:
    """Copy the PNGs into out_dir, write out_dir/index.html and return its path."""
    os.makedirs(out_dir, exist_ok=True)
    taken: set[str] = set()
    entries = []
    for png in sorted(pngs, key=lambda p: (os.path.basename(p).lower(), p)):
        name = unique_name(os.path.basename(png), taken)
        shutil.copyfile(png, os.path.join(out_dir, name))
        entries.append((name, os.path.splitext(os.path.basename(png))[0]))
    count = f"{len(entries)} quicklook(s)" if entries else "No product with an image was found."
    page = PAGE.format(title=html.escape(title), count=count,
                       figures="\n".join(figure(name, caption) for name, caption in entries))
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as f:
        f.write(page)
    return index


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build(argv[1], argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

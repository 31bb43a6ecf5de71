"""List the PDS products in a folder: the `products` step of pds-quicklook.

Usage: python3 find_products.py VOLUME_DIR [--max N]

A product is found by its label:
- a PDS3 detached label (`*.lbl`, any case) that points to data (has a `^` pointer);
- a PDS4 label (`*.xml`, `*.lblx`, any case) of a `Product_...`, except bundle and
  collection labels (they describe other products, not data of their own);
- an image or qube file (`*.img`, `*.qub`, any case) that starts with an attached PDS3
  label, unless a detached label of the same name sits next to it.

Writes `cwl.output.json` with `products`: the paths relative to VOLUME_DIR, sorted, at
most N of them. Standard library only. Symbolic links and hidden files are not followed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

PDS3_LABELS = (".lbl",)
PDS4_LABELS = (".xml", ".lblx")
ATTACHED_CANDIDATES = (".img", ".qub")
HEAD_BYTES = 4096
# An attached PDS3 label starts with PDS_VERSION_ID, possibly after an SFDU label ("CCSD3Z...").
ATTACHED_STARTS = (b"PDS_VERSION_ID", b"ODL_VERSION_ID", b"CCSD3Z")
NOT_DATA_PRODUCTS = (b"<Product_Bundle", b"<Product_Collection")


def head(path: str, size: int = HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def is_pds3_label(path: str) -> bool:
    return b"^" in head(path, 65536)


def is_pds4_label(path: str) -> bool:
    start = head(path)
    return b"<Product_" in start and not any(kind in start for kind in NOT_DATA_PRODUCTS)


def has_attached_label(path: str) -> bool:
    return head(path, 64).lstrip().upper().startswith(ATTACHED_STARTS)


def is_product(folder: str, name: str, names_lower: set[str]) -> bool:
    """Whether `name` in `folder` is the label of a product."""
    stem, suffix = os.path.splitext(name)
    suffix = suffix.lower()
    path = os.path.join(folder, name)
    if suffix in PDS3_LABELS:
        return is_pds3_label(path)
    if suffix in PDS4_LABELS:
        return is_pds4_label(path)
    if suffix in ATTACHED_CANDIDATES:
        if (stem + ".lbl").lower() in names_lower:
            return False  # the data file of a detached label (or a copy of its label)
        return has_attached_label(path)
    return False


def find_products(volume: str) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(volume):  # followlinks=False: links to folders are skipped
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        names_lower = {name.lower() for name in files}
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.startswith(".") or os.path.islink(path) or not os.path.isfile(path):
                continue
            if is_product(folder, name, names_lower):
                found.append(os.path.relpath(path, volume).replace(os.sep, "/"))
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="List the PDS products in a folder.")
    parser.add_argument("volume", help="the folder to search")
    parser.add_argument("--max", type=int, default=None, help="at most this many products")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.volume):
        parser.error(f"not a folder: {args.volume}")
    if args.max is not None and args.max < 0:
        parser.error("--max must not be negative")
    products = find_products(args.volume)
    total = len(products)
    if args.max is not None:
        products = products[: args.max]
    with open("cwl.output.json", "w", encoding="utf-8") as f:
        json.dump({"products": products}, f, indent=1)
    print(f"found {total} product(s), kept {len(products)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

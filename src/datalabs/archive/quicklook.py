"""Quicklook PNGs of image products, read with pdr and drawn with matplotlib.

Rendering runs in a child process with a time limit (a malformed or huge product cannot hang or bloat the
server); the PNG is cached under ``<data_dir>/archive/quicklooks`` keyed by the product and its label's
modification time. Run as ``python -m datalabs.archive.quicklook LABEL OUT.png`` (what the service does).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from datalabs.errors import InvalidInput, NotFound
from datalabs.settings import Settings

MAX_SIDE = 1024  # pixels of the longest side of a quicklook
TIME_LIMIT = 120  # seconds
NO_IMAGE_EXIT = 3


class QuicklookService:
    def __init__(self, settings: Settings) -> None:
        self.cache = settings.data_dir / "archive" / "quicklooks"

    def png(self, product: dict, label_file: Path) -> bytes:
        try:
            mtime = label_file.stat().st_mtime_ns
        except OSError:
            raise NotFound(f"the label of product {product['identifier']!r} is gone from its volume",
                           field="product") from None
        key = hashlib.sha256(f"{product['product_key']}:{label_file}:{mtime}".encode()).hexdigest()[:32]
        target = self.cache / f"{key}.png"
        if target.exists():
            return target.read_bytes()
        self.cache.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        try:
            done = subprocess.run([sys.executable, "-m", "datalabs.archive.quicklook", str(label_file), str(partial)],
                                  capture_output=True, text=True, timeout=TIME_LIMIT,
                                  env={**os.environ, "MPLBACKEND": "Agg"})
        except subprocess.TimeoutExpired:
            partial.unlink(missing_ok=True)
            raise InvalidInput(f"rendering the quicklook took over {TIME_LIMIT} s", field="product") from None
        if done.returncode == NO_IMAGE_EXIT:
            raise NotFound(f"product {product['identifier']!r} has no image to show", field="product")
        if done.returncode != 0 or not partial.exists():
            partial.unlink(missing_ok=True)
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise InvalidInput(f"pdr could not read an image from {product['identifier']!r}: {last}",
                               field="product")
        os.replace(partial, target)
        return target.read_bytes()


def _first_image(data):
    import numpy as np

    for name in data.keys():
        try:
            value = data[name]
        except Exception:  # noqa: BLE001 - pdr raises many kinds for objects it cannot load; try the next
            continue
        if isinstance(value, np.ndarray) and value.ndim >= 2 and value.dtype.kind in "uif" and min(value.shape[-2:]) > 1:
            return value
    return None


def render(label: str, out: str) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import pdr
    from matplotlib import pyplot

    image = _first_image(pdr.read(label))
    if image is None:
        print("no image in this product", file=sys.stderr)
        return NO_IMAGE_EXIT
    while image.ndim > 2:  # a cube: its first band
        image = image[0]
    step = max(1, int(np.ceil(max(image.shape) / MAX_SIDE)))
    image = np.asarray(image[::step, ::step], dtype=float)
    finite = image[np.isfinite(image)]
    low, high = (np.percentile(finite, (1, 99)) if finite.size else (0.0, 1.0))
    if high <= low:
        high = low + 1
    pyplot.imsave(out, np.clip((image - low) / (high - low), 0, 1), cmap="gray", vmin=0, vmax=1, format="png")
    return 0


if __name__ == "__main__":
    sys.exit(render(sys.argv[1], sys.argv[2]))

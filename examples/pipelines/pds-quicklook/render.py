"""Render a quicklook PNG of one PDS product: the `render` step of pds-quicklook.

Usage: python3 render.py VOLUME_DIR PRODUCT

PRODUCT is the product's label, relative to VOLUME_DIR. The product is opened with
`pdr.read`; the first 2-D numeric array among its objects (or the first band of a 3-D
one that is not all null values) is scaled to 0-255 between its 1st and 99th
percentiles and saved with matplotlib as `<label name without extension>.png` in the
current folder, in grey. Null values (PDS3 special constants, huge floats) are black.
Large images are thinned to at most MAX_SIDE pixels a side. A product without such an
image, or one that cannot be read, gives no PNG and a note on stderr; that is not an
error.
"""

from __future__ import annotations

import math
import os
import sys
import warnings

MAX_SIDE = 1024
# Float special constants of PDS4 and ISIS products (e.g. -3.4028235e38) are taken as null values.
NULL_MAGNITUDE = 1e30


def note(message: str) -> None:
    print(f"render: {message}", file=sys.stderr)


def label_path(volume: str, product: str) -> str:
    """The product's path, refused when it leads outside the volume."""
    root = os.path.realpath(volume)
    path = os.path.realpath(os.path.join(root, product))
    if not path.startswith(root + os.sep):
        raise ValueError(f"{product!r} is not inside the volume")
    return path


def as_image(value):
    """The value as a 2-D float array when it is a numeric image (first band of a cube), else None."""
    import numpy as np

    if not isinstance(value, np.ndarray) or value.size == 0:
        return None
    if value.dtype.kind not in "iuf" or value.ndim not in (2, 3):
        return None
    if isinstance(value, np.ma.MaskedArray):
        value = value.astype(float).filled(np.nan)
    value = np.asarray(value, dtype=float)
    value[np.abs(value) >= NULL_MAGNITUDE] = np.nan
    if value.ndim == 3:  # bands first, as pdr returns cubes; a band of only null values is passed over
        value = next((band for band in value if np.isfinite(band).any()), value[0])
    return value


def first_image(data):
    """(object name, 2-D array) of the first image among the product's objects, or (None, None)."""
    for name in data.keys():
        if name == "LABEL":
            continue
        try:
            value = data[name]
        except Exception as error:
            note(f"{name}: not readable ({type(error).__name__}: {error})")
            continue
        if getattr(data, "standard", None) == "PDS3":
            try:  # masks the label's special constants (scaling does not matter to a stretch)
                value = data.get_scaled(name)
            except Exception:
                pass
        image = as_image(value)
        if image is not None:
            return name, image
    return None, None


def to_grey(image):
    """The image thinned to MAX_SIDE and scaled to uint8 between its 1st and 99th percentiles."""
    import numpy as np

    step = max(1, math.ceil(max(image.shape) / MAX_SIDE))
    image = image[::step, ::step]
    finite = np.isfinite(image)
    if not finite.any():
        return None
    low, high = np.percentile(image[finite], [1, 99])
    if high <= low:
        high = low + 1.0
    scaled = np.clip((image - low) / (high - low) * 255.0, 0, 255)
    return np.where(finite, scaled, 0).astype(np.uint8)


def render(volume: str, product: str) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pdr

    path = label_path(volume, product)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pdr warns about every missing side file
            data = pdr.read(path)
            name, image = first_image(data)
    except Exception as error:
        note(f"{product}: cannot be read ({type(error).__name__}: {error})")
        return None
    if image is None:
        note(f"{product}: no 2-D numeric image found")
        return None
    grey = to_grey(image)
    if grey is None:
        note(f"{product}: object {name} has no finite value")
        return None
    base = os.path.basename(product)
    out = os.path.splitext(base)[0] + ".png"
    plt.imsave(out, grey, cmap="gray", vmin=0, vmax=255)
    note(f"{product}: {name} {image.shape[0]}x{image.shape[1]} -> {out}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        render(argv[1], argv[2])
    except ValueError as error:
        note(str(error))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Write data/digits.npz: the UCI 8x8 handwritten digits, from scikit-learn's bundled copy.

scikit-learn is not a netform dependency; run this with an interpreter that has
it, e.g. a throw-away virtual environment::

    python3 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn
    /tmp/skl/bin/python scripts/make_digits.py            # writes data/digits.npz

The file holds ``x``: uint8 (1797, 8, 8, 1), values 0..16 (each pixel counts
the "on" pixels of a 4x4 cell of the original 32x32 bitmap), and ``y``: uint8
(1797,), the digit 0..9. Images are in scikit-learn's order (no shuffling).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "data" / "digits.npz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output file (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits()
    images = np.asarray(digits.images)
    target = np.asarray(digits.target)
    if images.shape != (1797, 8, 8) or target.shape != (1797,):
        raise SystemExit(f"unexpected shapes from load_digits(): {images.shape}, {target.shape}")
    if images.min() < 0 or images.max() > 16 or not np.array_equal(images, np.round(images)):
        raise SystemExit("unexpected pixel values: expected integers 0..16")

    x = images.astype(np.uint8)[..., np.newaxis]
    y = target.astype(np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, x=x, y=y)
    print(f"wrote {args.out}: x {x.shape} {x.dtype}, y {y.shape} {y.dtype}, {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

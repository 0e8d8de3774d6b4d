"""The `mojofer` command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import _core
from .detect import FaceDetector

SAMPLE = Path(__file__).resolve().parent / "data" / "astronaut.png"


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def draw_boxes(frame: np.ndarray, boxes, color=(255, 40, 40), width: int = 3) -> np.ndarray:
    """A copy of `frame` with each box outlined."""
    out = frame.copy()
    h, w = out.shape[:2]
    for b in boxes:
        x0, y0 = int(round(b.x)), int(round(b.y))
        x1, y1 = int(round(b.x + b.w)), int(round(b.y + b.h))
        for t in range(width):
            top, bottom = np.clip([y0 + t, y1 - t], 0, h - 1)
            left, right = np.clip([x0 + t, x1 - t], 0, w - 1)
            out[top, left:right + 1] = color
            out[bottom, left:right + 1] = color
            out[top:bottom + 1, left] = color
            out[top:bottom + 1, right] = color
    return out


def cmd_detect(args) -> int:
    from PIL import Image

    detector = FaceDetector(args.model)
    for path in args.images or [SAMPLE]:
        frame = load_rgb(path)
        boxes = detector.detect(frame, min_size=args.min_size)
        print(f"{path}: {len(boxes)} face(s)")
        for i, b in enumerate(boxes):
            print(f"  face {i}: x={b.x:.1f} y={b.y:.1f} w={b.w:.1f} h={b.h:.1f} score={b.score:.0f}")
        if args.out:
            out = args.out if len(args.images or [SAMPLE]) == 1 else args.out.with_name(
                f"{args.out.stem}_{Path(path).stem}{args.out.suffix}")
            Image.fromarray(draw_boxes(frame, boxes)).save(out)
            print(f"  annotated image: {out}")
    return 0


def cmd_version(args) -> int:
    for name, version in _core.versions().items():
        print(f"{name}: {version}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mojofer", description="Facial expression and social-cue recognition.")
    commands = parser.add_subparsers(dest="command", required=True)
    detect = commands.add_parser("detect", help="find faces in images (default: the bundled sample)")
    detect.add_argument("images", nargs="*", type=Path, help="image files; none = bundled astronaut portrait")
    detect.add_argument("--out", type=Path, help="write the image with boxes drawn to this PNG")
    detect.add_argument("--min-size", type=int, default=_core.detect_defaults()["min_size"],
                        help="smallest face side in pixels")
    detect.add_argument("--model", type=Path, help="face_detector model file (default: bundled)")
    commands.add_parser("version", help="versions of mojofer and its system libraries")
    args = parser.parse_args(argv)
    try:
        return {"detect": cmd_detect, "version": cmd_version}[args.command](args)
    except (OSError, ValueError) as exc:
        print(f"mojofer: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

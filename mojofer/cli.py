"""The `mojofer` command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import _core
from .detect import FaceDetector
from .expressions import ExpressionClassifier
from .landmarks import Landmarker
from .pose import HeadPose

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


def draw_points(frame: np.ndarray, points: np.ndarray, color=(40, 255, 40)) -> np.ndarray:
    """`frame` with a 3x3 dot at each point (in place)."""
    h, w = frame.shape[:2]
    for x, y in np.round(points).astype(int):
        frame[max(y - 1, 0):min(y + 2, h), max(x - 1, 0):min(x + 2, w)] = color
    return frame


def output_path(out: Path, image: Path, count: int) -> Path:
    return out if count == 1 else out.with_name(f"{out.stem}_{image.stem}{out.suffix}")


def cmd_analyze(args) -> int:
    """Faces, and with --landmarks (the default for `analyze`) their 68
    points, head pose and expression."""
    from PIL import Image

    detector = FaceDetector(args.detector_model)
    landmarker = Landmarker(args.landmarks_model) if args.landmarks else None
    pose = HeadPose(args.pose_model) if args.landmarks else None
    classifier = ExpressionClassifier(args.expressions_model) if args.landmarks else None
    images = args.images or [SAMPLE]
    for path in images:
        frame = load_rgb(path)
        boxes = detector.detect(frame, min_size=args.min_size)
        print(f"{path}: {len(boxes)} face(s)")
        annotated = draw_boxes(frame, boxes)
        for i, b in enumerate(boxes):
            print(f"  face {i}: box x={b.x:.1f} y={b.y:.1f} w={b.w:.1f} h={b.h:.1f} score={b.score:.0f}")
            if landmarker:
                points, quality = landmarker.fit(frame, b)
                (rx, ry), (lx, ly) = points[36], points[45]
                print(f"    68 landmarks, fit quality {quality:.3f} (lower is better); "
                      f"outer eye corners ({rx:.1f}, {ry:.1f}) and ({lx:.1f}, {ly:.1f})")
                yaw, pitch, roll = pose.estimate(points).as_tuple()
                print(f"    head pose: yaw {yaw:+.1f}°, pitch {pitch:+.1f}°, roll {roll:+.1f}°")
                e = classifier.classify(points)
                ranked = sorted(e.emotions.items(), key=lambda kv: -kv[1])[:3]
                print("    emotions: " + ", ".join(f"{k} {v:.2f}" for k, v in ranked)
                      + f"; amusement {e.amusement:.2f}, surprise {e.surprise:.2f}, "
                      f"confusion {e.confusion:.2f} (geometric rule)")
                print("    action units: " + ", ".join(f"{k} {v:+.3f}" for k, v in e.action_units.items()))
                draw_points(annotated, points)
        if args.out:
            out = output_path(args.out, Path(path), len(images))
            Image.fromarray(annotated).save(out)
            print(f"  annotated image: {out}")
    return 0


def cmd_version(args) -> int:
    for name, version in _core.versions().items():
        print(f"{name}: {version}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="mojofer", description="Facial expression and social-cue recognition.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, landmarks, summary in (
            ("analyze", True, "faces, 68 landmarks, head pose and expression (default: the bundled sample)"),
            ("detect", False, "faces only (default: the bundled sample)")):
        command = commands.add_parser(name, help=summary)
        command.set_defaults(landmarks=landmarks)
        command.add_argument("images", nargs="*", type=Path, help="image files; none = bundled astronaut portrait")
        command.add_argument("--out", type=Path, help="write the image with the results drawn to this PNG")
        command.add_argument("--min-size", type=int, default=_core.detect_defaults()["min_size"],
                             help="smallest face side in pixels")
        command.add_argument("--detector-model", type=Path, help="face_detector model file (default: bundled)")
        command.add_argument("--landmarks-model", type=Path, help="landmarks model file (default: bundled)")
        command.add_argument("--pose-model", type=Path, help="head_pose model file (default: bundled)")
        command.add_argument("--expressions-model", type=Path,
                             help="expressions model file (default: bundled)")
    commands.add_parser("version", help="versions of mojofer and its system libraries")
    args = parser.parse_args(argv)
    try:
        return {"analyze": cmd_analyze, "detect": cmd_analyze, "version": cmd_version}[args.command](args)
    except (OSError, ValueError) as exc:
        print(f"mojofer: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""Face-crop benchmark: the share of FER2013 crops that get landmarks with
quality under DEFAULT_MAX_QUALITY, with find_landmarks(face_crop=True) and,
for comparison, with the detector alone; and the time per crop (one core).

    python benchmarks/face_crop.py [--data PATH] [--split val] [--limit N]

The goal (issue 12): at least 95% of the val crops.
"""
from __future__ import annotations

import argparse
import csv
import time

import numpy as np
from PIL import Image

import mojofer
from mojofer.landmarks import DEFAULT_MAX_QUALITY

from _common import default_data

GOAL = 0.95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=default_data("fer2013"), help="the fer2013 folder")
    parser.add_argument("--split", default="val", choices=("train", "val"))
    parser.add_argument("--limit", type=int, help="only the first N crops of the split")
    args = parser.parse_args()
    with open(f"{args.data}/labels.csv", newline="") as f:
        names = [r["image"] for r in csv.DictReader(f) if r["split"] == args.split][:args.limit]
    frames = [np.asarray(Image.open(f"{args.data}/{name}").convert("L")) for name in names]
    detected = sum(bool(mojofer.find_landmarks(frame)) for frame in frames)
    start = time.perf_counter()
    qualities = np.array([mojofer.find_landmarks(frame, face_crop=True, max_quality=None)[0].quality
                          for frame in frames])
    per_crop = (time.perf_counter() - start) / len(frames)
    count = int((qualities <= DEFAULT_MAX_QUALITY).sum())
    fitted = count / len(frames)
    print(f"FER2013 {args.split}: {len(frames)} crops of {frames[0].shape[1]}x{frames[0].shape[0]}")
    print(f"detector + landmarks (face_crop=False): {detected / len(frames):.3f} get landmarks")
    print(f"face_crop=True: {fitted:.3f} ({count}) get landmarks with quality <= {DEFAULT_MAX_QUALITY} "
          f"(goal {GOAL}: {'met' if fitted >= GOAL else 'not met'}); "
          f"median quality {np.median(qualities):.3f}; {per_crop * 1e3:.1f} ms per crop")


if __name__ == "__main__":
    main()

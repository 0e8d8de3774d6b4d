"""The labelled expression images and the landmarks mojofer itself finds in them.

The expression model is trained on the points of our own pipeline (detector,
landmark fit, fit-quality check), not on annotations, so that training sees
what use will see. An image where the pipeline finds no face has NaN points.
"""
from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import _core
from ..landmarks import find_landmarks
from ..models import model_path

CLASSES = _core.EMOTIONS  # the labels are the core's emotions, in its order
SOURCES = ("ckplus", "taiwanese", "muxspace")
# The sources benchmarks/expressions.py tests on (each held out in turn,
# Taiwanese also in folds by performer); muxspace's noisy labels only ever
# train. Data made from these images for other models (mojofer.train.teacher)
# takes the other sources only, so that no tested face is ever seen.
TEST_SOURCES = ("ckplus", "taiwanese")


@dataclass
class ExpressionSet:
    paths: list  # image files
    sources: np.ndarray  # (N,) str
    subjects: np.ndarray  # (N,) str, "" where the source has no subject ids
    labels: np.ndarray  # (N,) int index into CLASSES
    points: np.ndarray  # (N, 68, 2) float32, NaN where no face was found

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.points[:, 0, 0])

    def subset(self, mask: np.ndarray) -> "ExpressionSet":
        return ExpressionSet([p for p, m in zip(self.paths, mask) if m], self.sources[mask],
                             self.subjects[mask], self.labels[mask], self.points[mask])


def read_labels(data: Path) -> tuple[list[Path], list[dict]]:
    """labels.csv's images (paths) and rows (image, source, label, subject)."""
    data = Path(data)
    with open(data / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [data / row["image"] for row in rows], rows


def load(data: Path, *, quiet: bool = False) -> ExpressionSet:
    """Reads labels.csv and runs the pipeline on every image (cached)."""
    paths, rows = read_labels(data)
    return ExpressionSet(
        paths,
        np.array([row["source"] for row in rows]),
        np.array([row["subject"] for row in rows]),
        np.array([CLASSES.index(row["label"]) for row in rows]),
        pipeline_points(paths, quiet=quiet))


def pipeline_points(paths: list, *, quiet: bool = False) -> np.ndarray:
    """The landmarks of the largest face find_landmarks accepts in each image.

    Cached under ~/.cache/mojofer by a digest of the image files, the
    detector and landmark models and the compiled core."""
    digest = hashlib.sha1()
    for name in ("face_detector.mfm", "landmarks.mfm"):
        digest.update(model_path(name).read_bytes())
    digest.update(Path(_core.__file__).read_bytes())
    for path in paths:
        digest.update(str(path).encode())
        digest.update(Path(path).read_bytes())
    cache = Path.home() / ".cache" / "mojofer" / f"expression-points-{digest.hexdigest()}.npy"
    if cache.is_file():
        return np.load(cache)
    points = np.full((len(paths), 68, 2), np.nan, np.float32)
    for i, path in enumerate(paths):
        faces = find_landmarks(_read_rgb(path))
        if faces:
            points[i] = max(faces, key=lambda f: f.box.w * f.box.h).landmarks
        if not quiet and (i + 1) % 500 == 0:
            print(f"  landmarks: {i + 1}/{len(paths)} images", file=sys.stderr)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, points)
    return points


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))

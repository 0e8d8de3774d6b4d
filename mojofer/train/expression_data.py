"""The labelled expression images and the landmarks mojofer itself finds in them.

The expression model is trained on the points of our own pipeline (detector,
landmark fit, fit-quality check), not on annotations, so that training sees
what use will see. An image where the pipeline finds no face has NaN points.
FER2013's 48x48 crops are read as face crops (find_landmarks(face_crop=True)):
the detector needs a margin around the face that they do not have.
"""
from __future__ import annotations

import csv
import hashlib
import sys
from multiprocessing import Pool
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from .. import _core
from ..landmarks import find_landmarks
from ..models import model_path

CLASSES = _core.EMOTIONS  # the labels are the core's emotions, in its order
SOURCES = ("ckplus", "taiwanese", "muxspace", "fer2013")
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

    def concatenate(self, other: "ExpressionSet") -> "ExpressionSet":
        return ExpressionSet(self.paths + other.paths,
                             *(np.concatenate([getattr(self, f), getattr(other, f)])
                               for f in ("sources", "subjects", "labels", "points")))


def read_labels(data: Path) -> tuple[list[Path], list[dict]]:
    """labels.csv's images (paths) and rows (image, source, label, subject)."""
    data = Path(data)
    with open(data / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [data / row["image"] for row in rows], rows


def load(data: Path, *, split: Optional[str] = None, quiet: bool = False) -> ExpressionSet:
    """Reads labels.csv and runs the pipeline on every image (cached).
    `split` keeps only the rows of that split (FER2013's labels.csv has a
    split column: train / val); a folder of face crops (FER2013) is fitted
    with face_crop=True."""
    paths, rows = read_labels(data)
    if split is not None:
        keep = [row.get("split") == split for row in rows]
        paths = [p for p, k in zip(paths, keep) if k]
        rows = [r for r, k in zip(rows, keep) if k]
    face_crop = bool(rows) and all(row["source"] == "fer2013" for row in rows)
    return ExpressionSet(
        paths,
        np.array([row["source"] for row in rows]),
        np.array([row["subject"] for row in rows]),
        np.array([CLASSES.index(row["label"]) for row in rows]),
        pipeline_points(paths, face_crop=face_crop, quiet=quiet))


def pipeline_points(paths: list, *, face_crop: bool = False, quiet: bool = False) -> np.ndarray:
    """The landmarks of the largest face find_landmarks accepts in each image.

    Cached under ~/.cache/mojofer by a digest of the image files, the
    detector and landmark models and what the pipeline gives on the first
    PROBE_IMAGES of them (a change to the compiled core that changes no
    landmark keeps the cache; one that changes them does not)."""
    digest = hashlib.sha1(b"face_crop" if face_crop else b"")
    for name in ("face_detector.mfm", "landmarks.mfm"):
        digest.update(model_path(name).read_bytes())
    digest.update(_points_of(paths[:PROBE_IMAGES], face_crop).tobytes())
    for path in paths:
        digest.update(str(Path(path).resolve()).encode())
        digest.update(Path(path).read_bytes())
    cache = Path.home() / ".cache" / "mojofer" / f"expression-points-{digest.hexdigest()}.npy"
    if cache.is_file():
        return np.load(cache)
    chunks = [paths[i:i + CHUNK_IMAGES] for i in range(0, len(paths), CHUNK_IMAGES)]
    with Pool(PROCESSES) as pool:
        parts = []
        for part in pool.imap(_points_of_chunk, [(chunk, face_crop) for chunk in chunks]):
            parts.append(part)
            if not quiet:
                print(f"  landmarks: {sum(map(len, parts))}/{len(paths)} images", file=sys.stderr)
    points = np.concatenate(parts) if parts else np.zeros((0, 68, 2), np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, points)
    return points


PROBE_IMAGES = 16
CHUNK_IMAGES = 500
PROCESSES = 2


def _points_of_chunk(job) -> np.ndarray:
    return _points_of(*job)


def _points_of(paths: list, face_crop: bool) -> np.ndarray:
    points = np.full((len(paths), 68, 2), np.nan, np.float32)
    for i, path in enumerate(paths):
        faces = find_landmarks(_read_rgb(path), face_crop=face_crop)
        if faces:
            points[i] = max(faces, key=lambda f: f.box.w * f.box.h).landmarks
    return points


def _read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))

"""Pseudo-labelled landmark training faces: dlib's 68-point predictor as the
teacher on the expression images.

Only images of sources the expression benchmark never tests on
(expression_data.TEST_SOURCES: today that leaves muxspace), so that the
landmark model never sees a face the expression benchmark scores. Each
image, in gray: dlib's HOG detector (upsample 1) and predictor on its
largest face, kept where the outer eye corners are at least MIN_EYES px
apart; then cropped as the landmark training crops are
(../shared/data/README.md, "landmarks/"): a square of CROP_SCALE x the
larger side of the points' tight box, centred on it, edge replication
outside the picture, resized (Lanczos) to at most CROP_MAX px. Nothing of
mojofer's own takes part, so the faces do not change with the model they
train.

The images are research data: the result is cached under ~/.cache/mojofer
and never belongs in the repository.
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from .expression_data import TEST_SOURCES, read_labels
from .landmarks import tight_box

DLIB_PREDICTOR = Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
DLIB_UPSAMPLE = 1
MIN_EYES = 16      # px between the outer eye corners: smaller faces teach little
CROP_SCALE = 2.0   # the crop's side over the larger side of the points' tight box
CROP_MAX = 256     # px: larger crops are resized down to this side


def teacher_faces(expressions_root: Path, *, limit: int = 0, quiet: bool = False):
    """(images, shapes, sources): square uint8 gray face crops, their 68
    teacher points (N, 68, 2) in crop pixels, and each face's source.

    limit > 0: only the first `limit` images of the training sources.
    Cached by a digest of the images, dlib's model and version and the
    settings here."""
    import dlib

    paths, rows = read_labels(expressions_root)
    chosen = [(path, row["source"]) for path, row in zip(paths, rows) if row["source"] not in TEST_SOURCES]
    if limit:
        chosen = chosen[:limit]
    digest = hashlib.sha1(repr((dlib.__version__, DLIB_UPSAMPLE, MIN_EYES, CROP_SCALE, CROP_MAX)).encode())
    digest.update(DLIB_PREDICTOR.read_bytes())
    for path, source in chosen:   # by file name: the same cache however the root is spelled
        digest.update(f"{path.name}\0{source}\0".encode())
        digest.update(path.read_bytes())
    cache = Path.home() / ".cache" / "mojofer" / f"teacher-faces-{digest.hexdigest()}.npz"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **_label(chosen, dlib, quiet))
    saved = np.load(cache)
    sides = saved["sides"]
    images = [pixels.reshape(side, side)
              for pixels, side in zip(np.split(saved["pixels"], np.cumsum(sides ** 2)[:-1]), sides)]
    if not quiet:
        print(f"teacher: {len(images)} faces of {len(chosen)} images (dlib found {int(saved['dlib_found'])})",
              file=sys.stderr)
    return images, saved["shapes"], saved["sources"]


def _label(chosen: list, dlib, quiet: bool) -> dict:
    """The arrays the cache holds: crops flattened (pixels, sides), their
    shapes and sources, and how many images dlib found a face in."""
    hog, predictor = dlib.get_frontal_face_detector(), dlib.shape_predictor(str(DLIB_PREDICTOR))
    crops, shapes, sources, found = [], [], [], 0
    started = time.perf_counter()
    for i, (path, source) in enumerate(chosen):
        with Image.open(path) as image:
            gray = np.asarray(image.convert("L"))
        rects = hog(gray, DLIB_UPSAMPLE)
        if rects:
            found += 1
            rect = max(rects, key=lambda r: r.width() * r.height())
            teacher = np.array([(p.x, p.y) for p in predictor(gray, rect).parts()], float)
            if np.linalg.norm(teacher[36] - teacher[45]) >= MIN_EYES:
                crop, points = face_crop(gray, teacher)
                crops.append(crop)
                shapes.append(points)
                sources.append(source)
        if not quiet and (i + 1) % 500 == 0:
            print(f"  teacher: {i + 1}/{len(chosen)} images, {len(crops)} faces kept "
                  f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    return {"pixels": np.concatenate([c.ravel() for c in crops]) if crops else np.zeros(0, np.uint8),
            "sides": np.array([c.shape[0] for c in crops], int),
            "shapes": np.array(shapes, float).reshape(-1, 68, 2), "sources": np.array(sources, str),
            "dlib_found": found}


def face_crop(gray: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The square crop around the face with these points, as the landmark
    training crops are made, and the points in its pixels (pixel-centre
    convention: x' = (x + 0.5)·s − 0.5 when resized)."""
    x, y, w, h = tight_box(points)
    side = max(1, round(CROP_SCALE * max(w, h)))
    corner = np.round(np.array([x + w / 2, y + h / 2]) - side / 2).astype(int)
    height, width = gray.shape
    before = np.maximum(0, -corner)
    after = np.maximum(0, corner + side - (width, height))
    padded = np.pad(gray, ((before[1], after[1]), (before[0], after[0])), mode="edge")
    left, top = corner + before
    crop = padded[top:top + side, left:left + side]
    points = points - corner
    if side > CROP_MAX:
        crop = np.asarray(Image.fromarray(crop).resize((CROP_MAX, CROP_MAX), Image.Resampling.LANCZOS))
        points = (points + 0.5) * (CROP_MAX / side) - 0.5
    return crop, points

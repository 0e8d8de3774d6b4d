"""68-point landmarks (iBUG / 300-W order) for faces, computed by the C core."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _core
from ._onethread import OneThread
from .detect import Box, FaceDetector, iou
from .models import model_path

LANDMARKS_MODEL = "landmarks.mfm"

# A fit whose predicted error (inter-ocular units) is above this is taken
# for no face: it rejects most of the detector's false alarms (see the
# README's detection numbers) while true faces fit at 0.03 to 0.1.
DEFAULT_MAX_QUALITY = 0.25

# Index of each point's mirror image when a face is flipped left-right.
MIRROR = np.array(
    [16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,  # jaw
     26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # brows
     27, 28, 29, 30, 35, 34, 33, 32, 31,  # nose
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes
     54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
     64, 63, 62, 61, 60, 67, 66, 65])  # inner lips


def interocular(points: np.ndarray) -> float:
    """Distance between the outer eye corners (points 36 and 45): the NME unit."""
    return float(np.linalg.norm(points[36] - points[45]))


class Landmarker:
    """The 68-point regressor with its own C context (one thread at a time).

    `fit` starts from a face box (a detector's), `track` from earlier points
    (the previous frame's: the model's mean shape is placed where they are). Both return (points, quality): points a float32
    (68, 2) array of x, y in frame pixels; quality the model's estimate of the
    fit's error in inter-ocular units (about 0.03 good, above ~0.1 lost).
    """

    def __init__(self, model: Optional[str | os.PathLike] = None):
        self.model = _core.Model(model if model is not None else model_path(LANDMARKS_MODEL))
        self._landmarker = _core.Landmarker(self.model)

    def fit(self, frame: np.ndarray, box, *, bgr: bool = False) -> tuple[np.ndarray, float]:
        return self._landmarker.fit(frame, box.as_tuple() if hasattr(box, "as_tuple") else box, bgr=bool(bgr))

    def track(self, frame: np.ndarray, points: np.ndarray, *, bgr: bool = False) -> tuple[np.ndarray, float]:
        return self._landmarker.track(frame, points, bgr=bool(bgr))


@dataclass(frozen=True)
class Face:
    """A face with its landmarks. `tracked` tells whether the points came
    from the previous frame's (True) or from a fresh detection (False);
    `id` numbers the faces a FaceTracker follows (None for still images)."""

    box: Box
    landmarks: np.ndarray
    quality: float
    tracked: bool
    id: Optional[int] = None


def points_box(points: np.ndarray, score: float = 0.0) -> Box:
    """The tight box around a face's points, the detector's box convention."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return Box(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]), score)


class FaceTracker:
    """Landmarks over video: each face's previous points initialise the next
    frame, and the detector is skipped while every face is tracked.

    A face whose fit quality rises above `max_quality` (the predicted error,
    inter-ocular units) is dropped, and so is a detection that fits no better;
    the detector runs on a frame where a face was dropped.
    `detect_every` (frames, 0 = never) also runs it on a schedule, to pick up
    faces that enter while others are tracked. Each face keeps its `id`
    while it is tracked; a face found again after it was lost gets a new one.
    Two tracked faces that converge onto one are merged into the better fit.
    One FaceTracker per video stream and thread: a call while another thread
    is inside process() or reset() raises RuntimeError.
    """

    def __init__(self, *, detector: Optional[FaceDetector] = None,
                 landmarker: Optional[Landmarker] = None, max_quality: float = DEFAULT_MAX_QUALITY,
                 detect_every: int = 0, min_size: int = 24):
        if not max_quality > 0:
            raise ValueError(f"max_quality must be > 0, got {max_quality!r}")
        if detect_every < 0:
            raise ValueError(f"detect_every must be >= 0 frames, got {detect_every!r}")
        self.detector = detector or FaceDetector()
        self.landmarker = landmarker or Landmarker()
        self.max_quality = max_quality
        self.detect_every = detect_every
        self.min_size = min_size
        self._one_thread = OneThread("FaceTracker")
        self.reset()

    def reset(self) -> None:
        with self._one_thread:
            self._reset()

    def _reset(self) -> None:
        self._points: list[np.ndarray] = []
        self._ids: list[int] = []
        self._next_id = 0
        self._frames_since_detection = 0
        self.detections = 0  # detector runs so far, for tuning and tests

    def process(self, frame: np.ndarray, *, bgr: bool = False) -> list[Face]:
        with self._one_thread:
            return self._process(frame, bgr)

    def _process(self, frame: np.ndarray, bgr: bool) -> list[Face]:
        faces = []
        for points, face_id in zip(self._points, self._ids):
            fitted, quality = self.landmarker.track(frame, points, bgr=bgr)
            if quality <= self.max_quality:
                faces.append(Face(points_box(fitted), fitted, quality, True, face_id))
        faces = _merge_duplicates(faces)
        self._frames_since_detection += 1
        scheduled = self.detect_every and self._frames_since_detection >= self.detect_every
        if len(faces) < len(self._points) or not faces or scheduled:
            faces += self._detect(frame, bgr, [f.box for f in faces])
        self._points = [f.landmarks for f in faces]
        self._ids = [f.id for f in faces]
        return faces

    def _detect(self, frame, bgr, known: list[Box]) -> list[Face]:
        self.detections += 1
        self._frames_since_detection = 0
        found = []
        for box in self.detector.detect(frame, bgr=bgr, min_size=self.min_size):
            if any(iou(box.as_tuple(), k.as_tuple()) > 0.3 for k in known):
                continue
            points, quality = self.landmarker.fit(frame, box, bgr=bgr)
            if quality <= self.max_quality:
                found.append(Face(box, points, quality, False, self._next_id))
                self._next_id += 1
                known = known + [box]
        return found


def _merge_duplicates(faces: list[Face], overlap: float = 0.5) -> list[Face]:
    """Faces whose boxes overlap by more than `overlap` (IoU) are one face
    that two tracks converged on: the better fit (lower quality value) stays."""
    kept: list[Face] = []
    for face in sorted(faces, key=lambda f: f.quality):
        if all(iou(face.box.as_tuple(), k.box.as_tuple()) <= overlap for k in kept):
            kept.append(face)
    return sorted(kept, key=lambda f: f.id)


def find_landmarks(frame: np.ndarray, *, bgr: bool = False, min_size: int = 24,
                   max_quality: Optional[float] = DEFAULT_MAX_QUALITY) -> list[Face]:
    """Detects the faces in a still frame and fits each one's 68 points,
    keeping the faces whose fit quality is at most `max_quality` (None: all)."""
    detector, landmarker = _shared_models()
    faces = []
    for box in detector.detect(frame, bgr=bgr, min_size=min_size):
        points, quality = landmarker.fit(frame, box, bgr=bgr)
        if max_quality is None or quality <= max_quality:
            faces.append(Face(box, points, quality, False))
    return faces


_shared = threading.local()


def _shared_models() -> tuple[FaceDetector, Landmarker]:
    if getattr(_shared, "models", None) is None:
        _shared.models = (FaceDetector(), Landmarker())
    return _shared.models

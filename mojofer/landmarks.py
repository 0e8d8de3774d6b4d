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
    face_crop=True: each frame is a tight crop of one face (a face-crop
    dataset): it is fitted afresh by fit_face_crop, without tracking; the
    face keeps its id over consecutive frames where it fits.
    One FaceTracker per video stream and thread: a call while another thread
    is inside process() or reset() raises RuntimeError.
    """

    def __init__(self, *, detector: Optional[FaceDetector] = None,
                 landmarker: Optional[Landmarker] = None, max_quality: float = DEFAULT_MAX_QUALITY,
                 detect_every: int = 0, min_size: int = 24, face_crop: bool = False):
        self.face_crop = check_face_crop(face_crop)
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
        if self.face_crop:
            return self._fit_crop(frame, bgr)
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
        self._ids = [f.id for f in faces]  # type: ignore[misc]  # a tracker's faces all have ids
        return faces

    def _fit_crop(self, frame: np.ndarray, bgr: bool) -> list[Face]:
        self.detections += 1
        face = fit_face_crop(frame, self.detector, self.landmarker, bgr=bgr, min_size=self.min_size)
        if face.quality > self.max_quality:
            self._points, self._ids = [], []
            return []
        if not self._ids:
            self._ids, self._next_id = [self._next_id], self._next_id + 1
        self._points = [face.landmarks]
        return [Face(face.box, face.landmarks, face.quality, False, self._ids[0])]

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
    return sorted(kept, key=lambda f: f.id)  # type: ignore[arg-type, return-value]  # tracked: all have ids


def find_landmarks(frame: np.ndarray, *, bgr: bool = False, min_size: int = 24,
                   max_quality: Optional[float] = DEFAULT_MAX_QUALITY,
                   face_crop: bool = False) -> list[Face]:
    """Detects the faces in a still frame and fits each one's 68 points,
    keeping the faces whose fit quality is at most `max_quality` (None: all).
    face_crop=True: the frame is a tight crop of one face (FER2013-style),
    fitted by fit_face_crop even where the detector finds none."""
    check_face_crop(face_crop)
    detector, landmarker = _shared_models()
    if face_crop:
        face = fit_face_crop(frame, detector, landmarker, bgr=bgr, min_size=min_size)
        return [face] if max_quality is None or face.quality <= max_quality else []
    faces = []
    for box in detector.detect(frame, bgr=bgr, min_size=min_size):
        points, quality = landmarker.fit(frame, box, bgr=bgr)
        if max_quality is None or quality <= max_quality:
            faces.append(Face(box, points, quality, False))
    return faces


# The face box of a tight face crop (FER2013's), as fractions of the crop's
# width and height (x, y, w, h): the median box of our points on 1,000 FER2013
# train crops fitted with quality under 0.15; the detector's boxes on the
# crops it finds (upscaled 4x and padded) have the same median within 0.03.
FACE_CROP_BOX = (0.08, 0.22, 0.82, 0.79)
# Candidate boxes around it (scale, centre shift as a fraction of the crop)
# and in-plane turns (degrees) of the best fit: each step raised the share of
# FER2013 train crops fitted under DEFAULT_MAX_QUALITY (README, "Face crops").
FACE_CROP_SCALES = (1.0, 0.85, 1.15)
FACE_CROP_SHIFTS = (0.0, -0.06, 0.06)
FACE_CROP_TURNS = (-15.0, 15.0)
FACE_CROP_REFINE = 3  # refits from the best points while they improve
# A fit predicted worse than this gets a second search, on the mirrored crop
# and with wider shifts: it pays on the few hard crops (turned heads, open
# mouths) without slowing the rest.
FACE_CROP_HARD = 0.15
FACE_CROP_WIDE_SHIFTS = (-0.12, 0.12)
# A detection covering this share of the crop's area is the face itself.
FACE_CROP_DETECTION_AREA = 0.4
# Below this side (pixels) a crop's face boxes are a few pixels: nothing to fit.
FACE_CROP_MIN_SIDE = 8


def check_face_crop(face_crop) -> bool:
    if not isinstance(face_crop, bool):
        raise TypeError(f"face_crop must be a bool, got {face_crop!r}")
    return face_crop


def fit_face_crop(frame: np.ndarray, detector: FaceDetector, landmarker: Landmarker, *,
                  bgr: bool = False, min_size: int = 24) -> Face:
    """The one face that fills a tight crop: its 68 points in the crop's
    pixels and their fit quality, whether or not the detector finds it.

    A detection covering most of the crop is tried first; then boxes around
    FACE_CROP_BOX, in-plane turns of the best fit and refits from its points;
    a poor best fit (above FACE_CROP_HARD) is searched again on the mirrored
    crop and with wider shifts. The fit with the lowest predicted error wins.
    No upscaling: the landmark features are sampled at the face's own scale
    (a 48 px face reads the same patches, interpolated), and upscaling
    FER2013 crops 2x or 4x did not raise the share fitted. The caller
    applies its quality threshold."""
    detected = detector.detect(frame, bgr=bgr, min_size=min_size)  # also checks the frame
    height, width = np.shape(frame)[:2]
    if min(height, width) < FACE_CROP_MIN_SIDE:
        raise ValueError(f"frame must be at least {FACE_CROP_MIN_SIDE} pixels a side for face_crop, "
                         f"got {width}x{height}")
    large = [b.as_tuple() for b in detected if b.w * b.h >= FACE_CROP_DETECTION_AREA * width * height]
    best = _search_crop(frame, landmarker, bgr, large, FACE_CROP_SHIFTS)
    if best[1] > FACE_CROP_HARD:
        flipped_boxes = [(width - x - w, y, w, h) for x, y, w, h in large]
        flipped, quality = _search_crop(np.ascontiguousarray(frame[:, ::-1]), landmarker, bgr,
                                        flipped_boxes, FACE_CROP_SHIFTS)
        mirrored = flipped[MIRROR].copy()
        mirrored[:, 0] = width - 1 - mirrored[:, 0]
        wide = _search_crop(frame, landmarker, bgr, [], FACE_CROP_WIDE_SHIFTS)
        best = min([best, (mirrored, quality), wide], key=lambda fit: fit[1])
    points, quality = best
    return Face(points_box(points), points, float(quality), False)


def _search_crop(frame, landmarker, bgr, detections, shifts) -> tuple[np.ndarray, float]:
    """The best fit from the given boxes and those around FACE_CROP_BOX."""
    height, width = np.shape(frame)[:2]
    boxes = list(detections)
    x, y, w, h = FACE_CROP_BOX
    for scale in FACE_CROP_SCALES:
        for dy in shifts:
            for dx in shifts:
                boxes.append(((x + dx + w * (1 - scale) / 2) * width,
                              (y + dy + h * (1 - scale) / 2) * height, w * scale * width, h * scale * height))
    best = min((landmarker.fit(frame, box, bgr=bgr) for box in boxes), key=lambda fit: fit[1])
    turned = (landmarker.track(frame, _turned(best[0], angle), bgr=bgr) for angle in FACE_CROP_TURNS)
    best = min([best, *turned], key=lambda fit: fit[1])
    for _ in range(FACE_CROP_REFINE):
        again = landmarker.track(frame, best[0], bgr=bgr)
        if again[1] >= best[1]:
            break
        best = again
    return best


def _turned(points: np.ndarray, degrees: float) -> np.ndarray:
    """The points turned in the image plane about their centre."""
    angle = np.deg2rad(degrees)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = points.mean(axis=0)
    return ((points - centre) @ rotation.T + centre).astype(np.float32)


_shared = threading.local()


def _shared_models() -> tuple[FaceDetector, Landmarker]:
    if getattr(_shared, "models", None) is None:
        _shared.models = (FaceDetector(), Landmarker())
    return _shared.models

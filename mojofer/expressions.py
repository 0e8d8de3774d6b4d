"""Expressions from 68 landmarks: seven emotions (a small MLP in the C core),
the social emotions amusement, surprise and confusion, and geometric
action-unit proxies. Only points go in: no pixels are needed.

Faces are read against the person's baseline (their resting face) when one
is known: from the same person's other faces (classify_many's `subjects`),
from a known neutral face (`neutral`), or learnt over time by the Estimator
and the Analyzer. Resting faces differ between people more than expressions
move them, so a person whose face at rest looks surprised to the population
reads neutral against their own."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from . import _core
from .models import model_path

EXPRESSIONS_MODEL = "expressions.mfm"
# the core's names, in its order
EMOTIONS, ACTION_UNITS, SOCIAL_EMOTIONS = _core.EMOTIONS, _core.ACTION_UNITS, _core.SOCIAL_EMOTIONS
# faces of one person from which classify_many trusts their baseline fully
BASELINE_SETTLED_FACES = _core.BASELINE_SETTLED_FACES


@dataclass(frozen=True)
class Expression:
    """One face's expression.

    emotions: probability per class of EMOTIONS (they sum to 1).
    amusement, surprise: the learned model's P(happiness), P(surprise).
    confusion: a documented geometric rule, not learned (no labelled data
        exists): inner brows drawn down and together, strengthened by
        narrowed lids, vetoed by a smile; 0..1.
    action_units: geometric proxies, in outer-eye-corner distances against
        the resting face (the person's baseline where known, else the mean
        neutral face; 0 = as at rest, > 0 = the action shows); eye_closure is
        the fraction of the resting eye opening that is gone.
    """

    emotions: dict
    amusement: float
    surprise: float
    confusion: float
    action_units: dict

    @property
    def top(self) -> str:
        """The most probable emotion."""
        return max(self.emotions, key=self.emotions.__getitem__)


class ExpressionClassifier:
    """The expression model with its own C context (one thread at a time)."""

    def __init__(self, model: Optional[str | os.PathLike] = None):
        self.model = _core.Model(model if model is not None else model_path(EXPRESSIONS_MODEL))
        self._classifier = _core.ExpressionClassifier(self.model)

    def classify(self, points: np.ndarray, neutral: Optional[np.ndarray] = None) -> Expression:
        """One face's (68, 2) points; `neutral` optionally the same person's
        neutral face, the baseline it is read against (fully trusted)."""
        points = np.asarray(points)
        if points.shape != (68, 2):
            raise ValueError(f"points must be shaped (68, 2), got {points.shape}")
        if neutral is None:
            r = self._classifier.classify(points)
        else:
            shape, _ = self._baseline(neutral, "neutral")
            r = self._classifier.classify(points, shape[None], np.ones(1, np.float32))
        amusement, surprise, confusion = map(float, r.social[0])
        return Expression(dict(zip(EMOTIONS, map(float, r.emotions[0]))), amusement, surprise, confusion,
                          dict(zip(ACTION_UNITS, map(float, r.action_units[0]))))

    def classify_many(self, points: np.ndarray, neutral: Optional[np.ndarray] = None,
                      subjects: Optional[Sequence] = None):
        """A batch of (n, 68, 2) faces -> Expressions of float32 arrays:
        emotions (n, 7), social (n, 3) as SOCIAL_EMOTIONS, action_units (n, 9).

        subjects: one person id per face (any hashable; None or "" = not
            known). Each person's baseline is estimated from all of that
            person's faces here (no labels used: per coordinate the median of
            the aligned shapes, each face weighted by how neutral it reads
            to the population (its P(neutral) without a baseline, + 0.05),
            trusted fully from BASELINE_SETTLED_FACES faces on, in
            proportion below) and their faces are read against it.
        neutral: (n, 68, 2), each face's own neutral face, fully trusted
            (overrides subjects).
        Without either, faces are read against the population alone."""
        if neutral is None and subjects is None:
            return self._classifier.classify(points)
        if neutral is not None and subjects is not None:
            raise ValueError("give neutral or subjects, not both: a neutral face is the baseline")
        points = _faces(points, "points")
        if neutral is not None:
            neutral = _faces(neutral, "neutral")
            if neutral.shape != points.shape:
                raise ValueError(f"neutral must hold one (68, 2) face per face of points "
                                 f"{points.shape}, got {neutral.shape}")
            shapes = np.stack([self._baseline(face, f"neutral[{i}]")[0]
                               for i, face in enumerate(neutral)]) if len(neutral) else neutral
            return self._classifier.classify(points, shapes, np.ones(len(points), np.float32))
        subjects = list(subjects)  # type: ignore[arg-type]  # not None: neither given returned above
        if len(subjects) != len(points):
            raise ValueError(f"subjects must hold one id per face of points ({len(points)}), "
                             f"got {len(subjects)}")
        self._classifier.classify(points)  # refuses a bad face by its index here
        shapes = np.zeros(points.shape, np.float32)
        weights = np.zeros(len(points), np.float32)
        faces_of: dict = {}
        for i, subject in enumerate(subjects):
            if subject is not None and subject != "":
                faces_of.setdefault(subject, []).append(i)
        for subject, rows in faces_of.items():
            shapes[rows], weights[rows] = self._classifier.baseline(points[rows])
        return self._classifier.classify(points, shapes, weights)

    def baseline(self, points: np.ndarray) -> tuple[np.ndarray, float]:
        """One person's resting face from (n, 68, 2) of their faces: (the
        aligned shape (68, 2), its weight in 0..1), as classify_many uses."""
        return self._classifier.baseline(points)

    def _baseline(self, face: np.ndarray, arg: str):
        """The baseline of one known neutral face, a refusal naming `arg`."""
        try:
            return self._classifier.baseline(face)
        except ValueError as error:  # the core names it "points"
            raise ValueError(str(error).replace("points", arg, 1)) from None


def _faces(points, arg: str) -> np.ndarray:
    """points as float32 (n, 68, 2), a single face as n = 1; raises naming `arg`."""
    try:
        faces = np.asarray(points, np.float32)
    except (TypeError, ValueError):
        raise TypeError(f"{arg} must be an array of faces' 68 (x, y) points, shaped (68, 2) "
                        f"or (n, 68, 2)") from None
    faces = faces[None] if faces.ndim == 2 else faces
    if faces.ndim != 3 or faces.shape[1:] != (68, 2):
        raise ValueError(f"{arg} must be shaped (68, 2) or (n, 68, 2), got {np.shape(points)}")
    return faces


_shared = threading.local()


def classify_expression(points: np.ndarray, neutral: Optional[np.ndarray] = None) -> Expression:
    """The expression of one face's (68, 2) points, with the bundled model."""
    if getattr(_shared, "classifier", None) is None:
        _shared.classifier = ExpressionClassifier()
    return _shared.classifier.classify(points, neutral)

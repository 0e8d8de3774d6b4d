"""Expressions from 68 landmarks: seven emotions (a small MLP in the C core),
the social emotions amusement, surprise and confusion, and geometric
action-unit proxies. Only points go in: no pixels are needed."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _core
from .models import model_path

EXPRESSIONS_MODEL = "expressions.mfm"
# the core's names, in its order
EMOTIONS, ACTION_UNITS, SOCIAL_EMOTIONS = _core.EMOTIONS, _core.ACTION_UNITS, _core.SOCIAL_EMOTIONS


@dataclass(frozen=True)
class Expression:
    """One face's expression.

    emotions: probability per class of EMOTIONS (they sum to 1).
    amusement, surprise: the learned model's P(happiness), P(surprise).
    confusion: a documented geometric rule, not learned (no labelled data
        exists): inner brows drawn down and together, strengthened by
        narrowed lids, vetoed by a smile; 0..1.
    action_units: geometric proxies, in outer-eye-corner distances against a
        neutral face (0 = as neutral, > 0 = the action shows); eye_closure is
        the fraction of the neutral eye opening that is gone.
    """

    emotions: dict
    amusement: float
    surprise: float
    confusion: float
    action_units: dict

    @property
    def top(self) -> str:
        """The most probable emotion."""
        return max(self.emotions, key=self.emotions.get)


class ExpressionClassifier:
    """The expression model with its own C context (one thread at a time)."""

    def __init__(self, model: Optional[str | os.PathLike] = None):
        self.model = _core.Model(model if model is not None else model_path(EXPRESSIONS_MODEL))
        self._classifier = _core.ExpressionClassifier(self.model)

    def classify(self, points: np.ndarray, neutral: Optional[np.ndarray] = None) -> Expression:
        """One face's (68, 2) points; `neutral` optionally the same person's
        neutral face, which the action units and confusion are measured against."""
        points = np.asarray(points)
        if points.shape != (68, 2):
            raise ValueError(f"points must be shaped (68, 2), got {points.shape}")
        r = self._classifier.classify(points, neutral)
        return Expression(dict(zip(EMOTIONS, map(float, r.emotions[0]))), *map(float, r.social[0]),
                          dict(zip(ACTION_UNITS, map(float, r.action_units[0]))))

    def classify_many(self, points: np.ndarray, neutral: Optional[np.ndarray] = None):
        """A batch of (n, 68, 2) faces -> Expressions of float32 arrays:
        emotions (n, 7), social (n, 3) as SOCIAL_EMOTIONS, action_units (n, 9)."""
        return self._classifier.classify(points, neutral)


_shared = threading.local()


def classify_expression(points: np.ndarray, neutral: Optional[np.ndarray] = None) -> Expression:
    """The expression of one face's (68, 2) points, with the bundled model."""
    if getattr(_shared, "classifier", None) is None:
        _shared.classifier = ExpressionClassifier()
    return _shared.classifier.classify(points, neutral)

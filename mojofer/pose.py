"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks, computed by the C core."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import _core
from .models import model_path

POSE_MODEL = "pose.mfm"


@dataclass(frozen=True)
class Pose:
    """A head's rotation relative to the line of sight, in degrees.

    yaw > 0: the face turns to the subject's left (towards image right);
    pitch > 0: it turns up; roll > 0: it turns clockwise in the image (the
    eye line runs down towards image right). Mirroring the picture negates
    yaw and roll. The exact convention (R = Rz(roll) Ry(yaw) Rx(pitch)) is
    in csrc/include/mojofer.h."""

    yaw: float
    pitch: float
    roll: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.yaw, self.pitch, self.roll)


class HeadPose:
    """The head-pose fit with its own C context (one thread at a time).

    `estimate` takes the 68 landmarks (iBUG order, (68, 2) pixels, e.g. a
    Face's `landmarks`) and fits the model's 3D mean face to them."""

    def __init__(self, model: Optional[str | os.PathLike] = None):
        self.model = _core.Model(model if model is not None else model_path(POSE_MODEL))
        self._estimator = _core.PoseEstimator(self.model)

    def estimate(self, points: np.ndarray) -> Pose:
        return Pose(*self._estimator.estimate(points))


_shared = threading.local()


def head_pose(points: np.ndarray) -> Pose:
    """The pose of the face with these 68 landmarks, by the bundled model."""
    estimator = getattr(_shared, "estimator", None)
    if estimator is None:
        estimator = _shared.estimator = HeadPose()
    return estimator.estimate(points)

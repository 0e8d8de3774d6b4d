"""The keypoint frame: the one type that crosses the privacy boundary.

The Anonymizer turns a video frame into a KeypointFrame; the Estimator (here,
or on a server through a CloudClient) turns it into estimates. It holds no
pixels: per face an id, 68 landmarks and, for the device's own use, the box
and fit quality. On the wire it is the protocol's `frame` message
(docs/protocol.md, "frame"): timestamp -> `ts`, each face's id -> `id`,
landmarks -> `lm`, pose -> `pose`; box and quality stay on the device.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .detect import Box
from .pose import Pose


@dataclass(frozen=True)
class KeypointFace:
    """One face of a keypoint frame: its id (the Anonymizer's, stable while
    the face is followed), its 68 landmarks (float32 (68, 2), x/y in frame
    pixels, iBUG/300-W order), and optionally its box and fit quality
    (device side only) and its head pose (None: the estimator fits it)."""

    id: int
    landmarks: np.ndarray
    box: Optional[Box] = None
    quality: Optional[float] = None
    pose: Optional[Pose] = None

    def __eq__(self, other) -> bool:
        if not isinstance(other, KeypointFace):
            return NotImplemented
        return ((self.id, self.box, self.quality, self.pose) == (other.id, other.box, other.quality, other.pose)
                and np.array_equal(self.landmarks, other.landmarks))

    def __repr__(self) -> str:
        lm = self.landmarks
        points = f"<{lm.dtype} {lm.shape}>" if isinstance(lm, np.ndarray) else repr(lm)
        return (f"KeypointFace(id={self.id!r}, landmarks={points}, box={self.box!r}, "
                f"quality={self.quality!r}, pose={self.pose!r})")


@dataclass(frozen=True)
class KeypointFrame:
    """One frame's faces (a tuple of KeypointFace), taken at `timestamp`
    seconds: what Estimator.update and CloudClient.send take."""

    timestamp: float
    faces: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "faces", tuple(self.faces))  # a list given compares as the tuple

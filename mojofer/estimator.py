"""The estimate side of the privacy boundary: keypoint frames in (an
Anonymizer's, or faces' keypoints under ids the caller assigns); head pose,
smoothed expressions and social cues out. The C core's estimator
(csrc/estimate/estimator.c) does the work; the local Analyzer and the streaming
server run the same code.

    est = mojofer.Estimator()
    estimates, events = est.update(keypoint_frame)
    estimates, events = est.update(t, [(face_id, landmarks, None), ...])
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from . import _core
from .cues import CueEvent, CueParams
from .expressions import ACTION_UNITS, EMOTIONS, EXPRESSIONS_MODEL
from .keypoints import KeypointFace, KeypointFrame
from .models import model_path
from .pose import POSE_MODEL, Pose

_DEFAULTS = _core.estimator_defaults()
DEFAULT_BASELINE = _DEFAULTS["baseline_window"]  # seconds of a face's person baseline


@dataclass(frozen=True)
class Estimate:
    """One face at one frame: a FaceResult without what only the frames
    give (box, landmarks, quality). A lost face (visible False) keeps its
    last pose and expression until its grace period ends and its status
    is back in "idle"."""

    id: int
    visible: bool
    pose: Pose
    emotions: dict
    amusement: float
    surprise: float
    confusion: float
    action_units: dict
    attention: float
    engagement: str
    status: str

    @property
    def top_emotion(self) -> str:
        return max(self.emotions, key=self.emotions.__getitem__)


FaceInput = Union[KeypointFace, Sequence, Mapping]


class Estimator:
    """Keypoints in, estimates out, per stream. Calls from several threads
    are serialised and each gets its own estimates, but they share the
    faces and the clock: one Estimator per stream.

    smoothing: time constant in seconds of the exponential smoothing of
        emotions, social emotions and action units (0 = none);
    grace: seconds a face not given keeps its id and state (default: the
        long interruption's end; kept longer until its status is idle);
        cues: CueParams of every face's state
        machines; max_faces: faces kept at once, visible and lost together
        (a new face when all are taken retires the one lost longest ago).
    baseline: seconds of each face's person baseline (default 60; None or
        0 = none): the face's resting shape learnt from its own frames while
        the head is within about +-25 degrees, the median of 8 stretches of
        the window, so an expression held for less than half of it barely
        moves it. Expressions, action units and confusion are read against
        it, trusted in proportion to how much the face has been seen (fully
        after 3 s). A new face, a reclaimed id and every face after reset()
        start without one; a lost face keeps its own while it keeps its id.
    Timestamps are seconds and must not decrease. What the core refuses
    raises ValueError with the core's problem, the words the server answers with.
    """

    def __init__(self, smoothing: float = _DEFAULTS["smoothing"], grace: Optional[float] = None,
                 cues: Optional[CueParams] = None, max_faces: int = _DEFAULTS["max_faces"], *,
                 baseline: Optional[float] = DEFAULT_BASELINE,
                 pose_model: Optional[Union[str, os.PathLike, "_core.Model"]] = None,
                 expression_model: Optional[Union[str, os.PathLike, "_core.Model"]] = None):
        self.cue_params = cues if cues is not None else CueParams()
        self.grace = float(self.cue_params.long_interruption_end if grace is None else grace)
        self.smoothing = float(smoothing)
        if isinstance(max_faces, bool) or not isinstance(max_faces, int):
            raise TypeError(f"max_faces must be an int, got {max_faces!r}")
        self.max_faces = max_faces
        if isinstance(baseline, bool) or not isinstance(baseline, (int, float, type(None))):
            raise TypeError(f"baseline must be seconds (a number) or None, got {baseline!r}")
        self.baseline = float(baseline or 0.0)
        # the core checks the parameters ("invalid estimator parameters: ...")
        self._core = _core.Estimator(_model(pose_model, POSE_MODEL),
                                     _model(expression_model, EXPRESSIONS_MODEL), self.smoothing,
                                     self.grace, max_faces, dataclasses.asdict(self.cue_params),
                                     self.baseline)

    def update(self, frame: Union[KeypointFrame, float], faces: Optional[Iterable[FaceInput]] = None
               ) -> tuple[list[Estimate], list[CueEvent]]:
        """One frame: a KeypointFrame (an Anonymizer's), or its timestamp
        and its faces, each a KeypointFace, a (face_id, landmarks (68, 2),
        pose or None) tuple or a dict with keys id, landmarks and
        (optional) pose; a pose is a Pose or (yaw, pitch, roll) degrees,
        None to estimate it from the landmarks (a KeypointFace's box and
        quality are not used). Returns the estimates (the faces given, in
        order, then the lost ones) and the events in time order (CueEvent
        with face_id; kind "face" for absent/visible/lost/retired changes)."""
        timestamp, faces = frame_parts(frame, faces)
        ids, points, poses, has_pose = _arrays(faces)
        estimates, events = self._core.update(timestamp, ids, points, poses, has_pose)
        return [_estimate(e) for e in estimates], [CueEvent(*e) for e in events]

    def lost(self) -> list[int]:
        """Ids of the faces lost and still in their grace period."""
        return self._core.lost()

    def reset(self) -> None:
        """Forgets every face and the time; the next timestamp may be any."""
        self._core.reset()


def _model(model, default: str) -> "_core.Model":
    if isinstance(model, _core.Model):
        return model
    return _core.Model(model if model is not None else model_path(default))


def frame_parts(frame, faces) -> tuple[float, list]:
    """(timestamp, faces) of a KeypointFrame, or of a timestamp and faces."""
    if isinstance(frame, KeypointFrame):
        if faces is not None:
            raise TypeError("give a KeypointFrame, or a timestamp and faces: not a KeypointFrame and faces")
        return frame.timestamp, list(frame.faces)
    if faces is None:
        raise TypeError(f"faces missing: give a KeypointFrame, or a timestamp and faces, got {frame!r} alone")
    return frame, list(faces)


def _arrays(faces: list):
    n = len(faces)
    ids = np.empty(n, np.int32)
    points = np.empty((n, 68, 2), np.float32)
    poses = np.zeros((n, 3), np.float32)
    has_pose = np.zeros(n, bool)
    for i, face in enumerate(faces):
        if isinstance(face, KeypointFace):
            face_id, landmarks, pose = face.id, face.landmarks, face.pose
        elif isinstance(face, Mapping):
            unknown = set(face) - {"id", "landmarks", "pose"}
            if unknown or "id" not in face or "landmarks" not in face:
                raise TypeError(f"face {i}: a dict needs keys id, landmarks and optionally pose, got {sorted(face)}")
            face_id, landmarks, pose = face["id"], face["landmarks"], face.get("pose")
        else:
            try:
                face_id, landmarks, pose = face
            except (TypeError, ValueError):
                raise TypeError(f"face {i}: expected (face_id, landmarks, pose or None), got {face!r}") from None
        if isinstance(face_id, (bool, np.bool_)) or not isinstance(face_id, (int, np.integer)) \
                or not -2**31 <= face_id < 2**31:
            raise TypeError(f"face {i}: face_id must be an int32, got {face_id!r}")
        ids[i] = face_id
        lm = np.asarray(landmarks, dtype=np.float32)
        if lm.shape != (68, 2):
            raise ValueError(f"face {i}: landmarks must be shaped (68, 2), got {lm.shape}")
        points[i] = lm
        if pose is not None:
            values = pose.as_tuple() if isinstance(pose, Pose) else tuple(pose)
            if len(values) != 3:
                raise TypeError(f"face {i}: pose must be a Pose, (yaw, pitch, roll) or None, got {pose!r}")
            poses[i] = values
            has_pose[i] = True
    return ids, points, poses, has_pose


def _estimate(e: "_core.Estimate") -> Estimate:
    return Estimate(e.id, e.visible, Pose(*e.pose), e.emotions, e.amusement, e.surprise, e.confusion,
                    e.action_units, e.attention, e.engagement, e.status)

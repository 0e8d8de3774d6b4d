"""The whole pipeline over time: an Anonymizer (frames -> keypoint frames)
and an Estimator or a CloudClient (keypoint frames -> estimates), joined
into one result per frame.

    an = mojofer.Analyzer()
    r = an.process(frame, timestamp=t)      # FrameResult: .faces, .events
    for r in an.stream(frames, fps=30): ...
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

import numpy as np

from ._onethread import OneThread
from .anonymizer import Anonymizer, stamped
from .cues import CueParams
from .detect import Box, FaceDetector
from .estimator import DEFAULT_BASELINE, Estimate, Estimator
from .expressions import ExpressionClassifier
from .keypoints import KeypointFace, KeypointFrame
from .landmarks import DEFAULT_MAX_QUALITY, Landmarker
from .pose import HeadPose


@dataclass(frozen=True)
class FaceResult(Estimate):
    """One face at one frame: its Estimate (pose, smoothed emotions, social
    emotions and action units, cues) plus what the frame gave: box, points
    (float32 (68, 2), frame pixels) and fit quality. A lost face (visible
    False) is reported with its last box and points until its grace period
    ends and its status is back in "idle"; its attention falls and its
    status passes through the interruptions (docs/cues.md, "Lost faces end
    in idle")."""

    box: Optional[Box] = None
    landmarks: Optional[np.ndarray] = None
    quality: Optional[float] = None


@dataclass(frozen=True)
class FrameResult:
    """One frame: the visible faces first, then the lost ones still in
    their grace period; `events` are the frame's transitions (CueEvent, with
    face_id), in time order. Besides the state machines' "engagement" and
    "status" events there are kind "face" events: "absent" -> "visible"
    (first seen), "visible" -> "lost", "lost" -> "visible" (back within the
    grace period, same id), "lost" -> "retired" (at its end, after the
    face's status events down to "idle", or earlier when max_faces faces
    are kept and a new one arrives)."""
    timestamp: float
    faces: list
    events: list


class Analyzer:
    """Frames in, faces with ids, pose, expression and social cues out: an
    Anonymizer (`self.anonymizer`: detection, landmarks, tracking, the face
    ids) feeding its keypoint frames to an Estimator (`self.estimator`, the
    same code the streaming server runs per session) or to a CloudClient.

    detect_every: frames between detector runs while faces are tracked (to
        pick up newcomers); grace: seconds a lost face keeps its id and state
        (default: the long interruption's end, so someone who looks back
        within it resumes the same interaction); smoothing: time constant in
        seconds of the exponential smoothing of emotions, social emotions and
        action units (0 = none); cues: CueParams for the state machines
        (thresholds, durations, target direction); max_faces: faces kept at
        once, lost ones in their grace period included (a frame's first
        max_faces faces are analyzed); baseline: seconds of each face's
        person baseline (Estimator's; None or 0 = none); cloud: a CloudClient (without
        on_result) to run the estimate side on a mojofer server instead of
        here (self.estimator is then None) — only the keypoint frames leave,
        with the head pose fitted here (Anonymizer(pose=True), as the
        protocol's devices do); the result fields are the same, and the
        server's own smoothing, grace, baseline and cue settings apply (grace= still
        bounds how long the Anonymizer keeps a lost face's id); each frame
        waits up to cloud_timeout seconds for its estimate (TimeoutError),
        and a frame the server refuses raises ConnectionError with its code;
        face_crop: each frame is a tight crop of one face (Anonymizer's).
    Timestamps are seconds and must not decrease. One Analyzer per video
    stream and thread: a call while another thread is inside process() or
    reset() raises RuntimeError (an Analyzer may be handed from one thread
    to another between calls).
    """

    def __init__(self, *, detect_every: int = 10, grace: Optional[float] = None,
                 smoothing: float = 0.2, cues: Optional[CueParams] = None,
                 max_quality: float = DEFAULT_MAX_QUALITY, min_size: int = 24,
                 max_faces: int = 16, baseline: Optional[float] = DEFAULT_BASELINE,
                 detector: Optional[FaceDetector] = None, landmarker: Optional[Landmarker] = None,
                 pose: Optional[HeadPose] = None, expressions: Optional[ExpressionClassifier] = None,
                 cloud=None, cloud_timeout: float = 2.0, face_crop: bool = False):
        if not (math.isfinite(cloud_timeout) and cloud_timeout > 0):
            raise ValueError(f"cloud_timeout must be a finite number of seconds > 0, got {cloud_timeout!r}")
        self._one_thread = OneThread("Analyzer")
        self.cloud, self.cloud_timeout = cloud, float(cloud_timeout)
        self.cue_params = cues if cues is not None else CueParams()
        self.pose = pose or HeadPose()
        self.estimator = None
        if cloud is None:
            self.estimator = Estimator(smoothing, grace, self.cue_params, max_faces,
                                       baseline=baseline, pose_model=self.pose.model,
                                       expression_model=(expressions or ExpressionClassifier()).model)
        self.anonymizer = Anonymizer(
            detect_every=detect_every, max_faces=max_faces, max_quality=max_quality,
            min_size=min_size, detector=detector, landmarker=landmarker, face_crop=face_crop,
            grace=self.cue_params.long_interruption_end if grace is None else grace,
            pose=self.pose if cloud is not None else False)
        self.grace, self.smoothing = self.anonymizer.grace, float(smoothing)
        self.reset()

    def reset(self) -> None:
        """Forgets every face and the last timestamp."""
        with self._one_thread:
            self.anonymizer.reset()
            if self.estimator is not None:
                self.estimator.reset()
            # each face's last keypoints, kept while the estimate side reports it
            self._last: dict[int, KeypointFace] = {}

    def process(self, frame: np.ndarray, timestamp: float, *, bgr: bool = False) -> FrameResult:
        """Analyzes one frame taken at `timestamp` seconds."""
        with self._one_thread:
            return self._process(frame, timestamp, bgr)

    def _process(self, frame: np.ndarray, timestamp: float, bgr: bool) -> FrameResult:
        keypoints = self.anonymizer.process(frame, timestamp, bgr=bgr)
        self._last.update((face.id, face) for face in keypoints.faces)
        if self.estimator is not None:
            estimates, events = self.estimator.update(keypoints)
        else:
            estimates, events = self._estimate_remotely(keypoints)
        self._last = {e.id: self._last[e.id] for e in estimates}
        results = [FaceResult(**vars(e), box=self._last[e.id].box, landmarks=self._last[e.id].landmarks,
                              quality=self._last[e.id].quality) for e in estimates]
        return FrameResult(keypoints.timestamp, results, events)

    def stream(self, frames: Iterable[np.ndarray], fps: Optional[float] = None,
               timestamps: Optional[Iterable[float]] = None, *, bgr: bool = False
               ) -> Iterator[FrameResult]:
        """A generator of FrameResults. Frame i is taken at timestamps[i] if
        given, else at i / fps, else when it arrives (time.monotonic(), for
        live cameras)."""
        for frame, t in stamped(frames, fps, timestamps):
            yield self.process(frame, t, bgr=bgr)

    def _estimate_remotely(self, keypoints: KeypointFrame):
        seq = self.cloud.send(keypoints)
        deadline = time.monotonic() + self.cloud_timeout
        while (left := deadline - time.monotonic()) > 0:
            r = self.cloud.receive(left)
            if r is None or r.seq != seq:
                continue  # nothing yet, or the late answer to a frame that timed out
            if not r.ok:
                raise ConnectionError(f"the server refused the frame at {keypoints.timestamp} s: "
                                      f"code {r.error.code}, {r.error.reason}")
            foreign = sorted({e.id for e in r.faces} - set(self._last))
            if foreign:
                raise ConnectionError(f"the server's session holds face ids this Analyzer did not "
                                      f"send ({foreign}): give each Analyzer a CloudClient of its own")
            return r.faces, r.events
        raise TimeoutError(f"no estimate from {self.cloud.url} within {self.cloud_timeout} s "
                           f"for the frame at {keypoints.timestamp} s")

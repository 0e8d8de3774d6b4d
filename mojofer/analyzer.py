"""The whole pipeline over time: faces with stable ids, landmarks, head pose,
expressions and the social-cue state machines, per frame.

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
from .cues import CueParams
from .detect import Box, FaceDetector
from .estimator import Estimate, Estimator
from .expressions import ExpressionClassifier
from .landmarks import DEFAULT_MAX_QUALITY, FaceTracker, Landmarker
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

    box: Box = None
    landmarks: np.ndarray = None
    quality: float = None


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


@dataclass
class _Track:
    """What the analyzer keeps per face id: the anonymize side's view of it
    (the estimator keeps the rest)."""
    face: object  # the tracker's Face when last seen: box, landmarks, quality
    tracker_id: Optional[int] = None  # the FaceTracker's id while visible


class Analyzer:
    """Frames in, faces with ids, pose, expression and social cues out.

    The anonymize side (detection, landmarks, tracking, face ids) runs here;
    the estimate side is an Estimator (`self.estimator`), the same code the
    streaming server runs per session.

    detect_every: frames between detector runs while faces are tracked (to
        pick up newcomers); grace: seconds a lost face keeps its id and state
        (default: the long interruption's end, so someone who looks back
        within it resumes the same interaction); smoothing: time constant in
        seconds of the exponential smoothing of emotions, social emotions and
        action units (0 = none); cues: CueParams for the state machines
        (thresholds, durations, target direction); max_faces: faces kept at
        once, lost ones in their grace period included (the tracker's first
        max_faces faces of a frame are analyzed); cloud: a CloudClient (without
        on_result) to run the estimate side on a mojofer server instead of
        here — only the keypoints and the head pose (computed here, as the
        protocol's devices do) leave; the result fields are the same, and
        the server's own smoothing, grace and cue settings apply; each frame
        waits up to cloud_timeout seconds for its estimate (TimeoutError),
        and a frame the server refuses raises ConnectionError with its code.
    Timestamps are seconds and must not decrease. One Analyzer per video
    stream and thread: a call while another thread is inside process() or
    reset() raises RuntimeError (an Analyzer may be handed from one thread
    to another between calls).
    """

    def __init__(self, *, detect_every: int = 10, grace: Optional[float] = None,
                 smoothing: float = 0.2, cues: Optional[CueParams] = None,
                 max_quality: float = DEFAULT_MAX_QUALITY, min_size: int = 24,
                 max_faces: int = 16,
                 detector: Optional[FaceDetector] = None, landmarker: Optional[Landmarker] = None,
                 pose: Optional[HeadPose] = None, expressions: Optional[ExpressionClassifier] = None,
                 cloud=None, cloud_timeout: float = 2.0):
        if not (math.isfinite(cloud_timeout) and cloud_timeout > 0):
            raise ValueError(f"cloud_timeout must be a finite number of seconds > 0, got {cloud_timeout!r}")
        self._one_thread = OneThread("Analyzer")
        self.cloud, self.cloud_timeout = cloud, float(cloud_timeout)
        self.cue_params = cues if cues is not None else CueParams()
        self.pose = pose or HeadPose()
        self.estimator = Estimator(smoothing, grace, self.cue_params, max_faces,
                                   pose_model=self.pose.model,
                                   expression_model=(expressions or ExpressionClassifier()).model)
        self.grace, self.smoothing = self.estimator.grace, self.estimator.smoothing
        self.tracker = FaceTracker(detector=detector, landmarker=landmarker,
                                   max_quality=max_quality, detect_every=detect_every,
                                   min_size=min_size)
        self.reset()

    def reset(self) -> None:
        """Forgets every face and the last timestamp."""
        with self._one_thread:
            self._reset()

    def _reset(self) -> None:
        self.tracker.reset()
        self.estimator.reset()
        self._tracks: dict[int, _Track] = {}
        self._next_id = 0
        self._last_timestamp: Optional[float] = None

    def process(self, frame: np.ndarray, timestamp: float, *, bgr: bool = False) -> FrameResult:
        """Analyzes one frame taken at `timestamp` seconds."""
        with self._one_thread:
            return self._process(frame, timestamp, bgr)

    def _process(self, frame: np.ndarray, timestamp: float, bgr: bool) -> FrameResult:
        timestamp = self._check_timestamp(timestamp)
        seen = self.tracker.process(frame, bgr=bgr)[:self.estimator.max_faces]
        by_tracker = {t.tracker_id: fid for fid, t in self._tracks.items() if t.tracker_id is not None}
        seen_ids = {f.id for f in seen}
        # faces the tracker dropped, this frame or before: a new detection may be one of them
        unmatched = {fid for fid, t in self._tracks.items() if t.tracker_id not in seen_ids}
        given = []
        for face in seen:
            face_id = by_tracker.get(face.id)
            if face_id is None:
                face_id = self._claim(face, unmatched)
                unmatched.discard(face_id)
            self._tracks[face_id] = _Track(face, face.id)
            given.append((face_id, face.landmarks, None))
        if self.cloud is None:
            estimates, events = self.estimator.update(timestamp, given)
        else:
            given = [(fid, points, self.pose.estimate(points)) for fid, points, _ in given]
            estimates, events = self._estimate_remotely(timestamp, given)
        alive = {e.id for e in estimates}
        for face_id in [fid for fid in self._tracks if fid not in alive]:
            del self._tracks[face_id]  # retired
        results = []
        for e in estimates:
            track = self._tracks[e.id]
            if not e.visible:
                track.tracker_id = None
            f = track.face
            results.append(FaceResult(**vars(e), box=f.box, landmarks=f.landmarks, quality=f.quality))
        return FrameResult(timestamp, results, events)

    def stream(self, frames: Iterable[np.ndarray], fps: Optional[float] = None,
               timestamps: Optional[Iterable[float]] = None, *, bgr: bool = False
               ) -> Iterator[FrameResult]:
        """A generator of FrameResults. Frame i is taken at timestamps[i] if
        given, else at i / fps, else when it arrives (time.monotonic(), for
        live cameras)."""
        if fps is not None and timestamps is not None:
            raise ValueError("give fps or timestamps, not both")
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a finite number > 0, got {fps!r}")
        stamps = iter(timestamps) if timestamps is not None else None
        start = time.monotonic()
        for i, frame in enumerate(frames):
            if stamps is not None:
                t = next(stamps, None)
                if t is None:
                    raise ValueError(f"timestamps ran out at frame {i}: give one per frame")
            elif fps is not None:
                t = i / fps
            else:
                t = time.monotonic() - start
            yield self.process(frame, t, bgr=bgr)

    # ---------------------------------------------------------------- internals

    def _check_timestamp(self, timestamp) -> float:
        try:
            t = float(timestamp)
        except (TypeError, ValueError):
            raise TypeError(f"timestamp must be a number of seconds, got {timestamp!r}") from None
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be finite, got {timestamp!r}")
        if self._last_timestamp is not None and t < self._last_timestamp:
            raise ValueError(f"timestamp {t} is before the previous {self._last_timestamp}: "
                             "timestamps must not decrease")
        self._last_timestamp = t
        return t

    def _estimate_remotely(self, timestamp: float, given: list):
        seq = self.cloud.send(timestamp, given)
        deadline = time.monotonic() + self.cloud_timeout
        while (left := deadline - time.monotonic()) > 0:
            r = self.cloud.receive(left)
            if r is None or r.seq != seq:
                continue  # nothing yet, or the late answer to a frame that timed out
            if not r.ok:
                raise ConnectionError(f"the server refused the frame at {timestamp} s: "
                                      f"code {r.error.code}, {r.error.reason}")
            foreign = sorted({e.id for e in r.faces} - set(self._tracks))
            if foreign:
                raise ConnectionError(f"the server's session holds face ids this Analyzer did not "
                                      f"send ({foreign}): give each Analyzer a CloudClient of its own")
            return r.faces, r.events
        raise TimeoutError(f"no estimate from {self.cloud.url} within {self.cloud_timeout} s "
                           f"for the frame at {timestamp} s")

    def _claim(self, face, unmatched: set) -> int:
        """The id of an unmatched face this new detection is (near where it
        was last seen, of a similar size), or a new id."""
        best, best_distance = None, math.inf
        cx, cy = face.box.x + face.box.w / 2, face.box.y + face.box.h / 2
        for face_id in unmatched:
            b = self._tracks[face_id].face.box
            distance = math.hypot(b.x + b.w / 2 - cx, b.y + b.h / 2 - cy) / max(b.w, 1.0)
            if distance < 1.0 and 0.5 < face.box.w / max(b.w, 1.0) < 2.0 and distance < best_distance:
                best, best_distance = face_id, distance
        if best is not None:
            return best
        face_id, self._next_id = self._next_id, self._next_id + 1
        return face_id

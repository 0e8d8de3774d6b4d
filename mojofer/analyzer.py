"""The whole pipeline over time: faces with stable ids, landmarks, head pose,
expressions and the social-cue state machines, per frame.

    an = mojofer.Analyzer()
    r = an.process(frame, timestamp=t)      # FrameResult: .faces, .events
    for r in an.stream(frames, fps=30): ...
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Sequence

import numpy as np

from .cues import CueEvent, CueParams, Cues
from .detect import Box, FaceDetector
from .expressions import ACTION_UNITS, EMOTIONS, ExpressionClassifier
from .landmarks import DEFAULT_MAX_QUALITY, FaceTracker, Landmarker
from .pose import HeadPose, Pose


@dataclass(frozen=True)
class FaceResult:
    """One face at one frame. A lost face (visible False) is reported, with
    its last box and points, until its grace period ends; its attention falls
    and its status passes through the interruptions. Emotions, social
    emotions and action units are smoothed over time (Analyzer.smoothing)."""

    id: int
    visible: bool
    box: Box
    landmarks: np.ndarray  # (68, 2) float32, frame pixels
    quality: float
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
        return max(self.emotions, key=self.emotions.get)


@dataclass(frozen=True)
class FrameResult:
    """One frame: the visible faces first, then the lost ones still in
    their grace period; `events` are the frame's transitions (CueEvent, with
    face_id), in time order. Besides the state machines' "engagement" and
    "status" events there are kind "face" events: "absent" -> "visible"
    (first seen), "visible" -> "lost", "lost" -> "visible" (back within the
    grace period, same id), "lost" -> "retired" (at the end of it)."""
    timestamp: float
    faces: list
    events: list


@dataclass
class _Track:
    """What the analyzer keeps per face id."""
    cues: Cues
    face: Optional[FaceResult] = None
    tracker_id: Optional[int] = None  # the FaceTracker's id while visible
    lost_at: Optional[float] = None
    smoothed: Optional[np.ndarray] = None  # emotions, social, action units in one vector
    smoothed_at: float = 0.0


class Analyzer:
    """Frames in, faces with ids, pose, expression and social cues out.

    detect_every: frames between detector runs while faces are tracked (to
        pick up newcomers); grace: seconds a lost face keeps its id and state
        (default: the long interruption's end, so someone who looks back
        within it resumes the same interaction); smoothing: time constant in
        seconds of the exponential smoothing of emotions, social emotions and
        action units (0 = none); cues: CueParams for the state machines
        (thresholds, durations, target direction).
    Timestamps are seconds and must not decrease. One Analyzer per video
    stream and thread.
    """

    def __init__(self, *, detect_every: int = 10, grace: Optional[float] = None,
                 smoothing: float = 0.2, cues: Optional[CueParams] = None,
                 max_quality: float = DEFAULT_MAX_QUALITY, min_size: int = 24,
                 detector: Optional[FaceDetector] = None, landmarker: Optional[Landmarker] = None,
                 pose: Optional[HeadPose] = None, expressions: Optional[ExpressionClassifier] = None):
        self.cue_params = cues if cues is not None else CueParams()
        Cues(self.cue_params)  # checks the parameters now, not at the first face
        self.grace = float(self.cue_params.long_interruption_end if grace is None else grace)
        if not (math.isfinite(self.grace) and self.grace >= 0):
            raise ValueError(f"grace must be a finite number of seconds >= 0, got {grace!r}")
        if not (math.isfinite(smoothing) and smoothing >= 0):
            raise ValueError(f"smoothing must be a finite time constant in seconds >= 0, got {smoothing!r}")
        self.smoothing = float(smoothing)
        self.tracker = FaceTracker(detector=detector, landmarker=landmarker,
                                   max_quality=max_quality, detect_every=detect_every,
                                   min_size=min_size)
        self.pose = pose or HeadPose()
        self.expressions = expressions or ExpressionClassifier()
        self.reset()

    def reset(self) -> None:
        """Forgets every face and the last timestamp."""
        self.tracker.reset()
        self._tracks: dict[int, _Track] = {}
        self._next_id = 0
        self._last_timestamp: Optional[float] = None

    def process(self, frame: np.ndarray, timestamp: float, *, bgr: bool = False) -> FrameResult:
        """Analyzes one frame taken at `timestamp` seconds."""
        timestamp = self._check_timestamp(timestamp)
        seen = self.tracker.process(frame, bgr=bgr)
        events: list[CueEvent] = []
        by_tracker = {t.tracker_id: fid for fid, t in self._tracks.items() if t.tracker_id is not None}
        seen_ids = {f.id for f in seen}
        # faces the tracker dropped, this frame or before: a new detection may be one of them
        unmatched = {fid for fid, t in self._tracks.items() if t.tracker_id not in seen_ids}
        visible_ids = []
        if seen:
            emotions, social, units = self.expressions.classify_many(
                np.stack([f.landmarks for f in seen]))
        for i, face in enumerate(seen):
            face_id = by_tracker.get(face.id)
            if face_id is None:
                face_id = self._claim(face, unmatched, timestamp, events)
                unmatched.discard(face_id)
            track = self._tracks[face_id]
            track.tracker_id = face.id
            pose = self.pose.estimate(face.landmarks)
            values = self._smooth(track, np.concatenate([emotions[i], social[i], units[i]]), timestamp)
            state, cue_events = track.cues.update(timestamp, pose)
            events += [dataclasses.replace(e, face_id=face_id) for e in cue_events]
            track.face = self._result(face_id, True, face.box, face.landmarks, face.quality, pose,
                                      values, state)
            visible_ids.append(face_id)
        results = [self._tracks[i].face for i in visible_ids]
        for face_id, track in list(self._tracks.items()):
            if face_id in visible_ids:
                continue
            if track.lost_at is None:
                track.lost_at, track.tracker_id = timestamp, None
                events.append(CueEvent(timestamp, "face", "visible", "lost", face_id))
            state, cue_events = track.cues.update(timestamp, None)
            events += [dataclasses.replace(e, face_id=face_id) for e in cue_events]
            if timestamp - track.lost_at >= self.grace:
                events.append(CueEvent(track.lost_at + self.grace, "face", "lost", "retired", face_id))
                del self._tracks[face_id]
                continue
            old = track.face
            track.face = self._result(face_id, False, old.box, old.landmarks, old.quality, old.pose,
                                      track.smoothed, state)
            results.append(track.face)
        events.sort(key=lambda e: (e.timestamp, e.face_id))
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

    def _claim(self, face, unmatched: set, timestamp: float, events: list) -> int:
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
            if self._tracks[best].lost_at is not None:
                events.append(CueEvent(timestamp, "face", "lost", "visible", best))
            self._tracks[best].lost_at = None
            return best
        face_id, self._next_id = self._next_id, self._next_id + 1
        self._tracks[face_id] = _Track(Cues(self.cue_params))
        events.append(CueEvent(timestamp, "face", "absent", "visible", face_id))
        return face_id

    def _smooth(self, track: _Track, values: np.ndarray, timestamp: float) -> np.ndarray:
        if track.smoothed is None or self.smoothing == 0:
            track.smoothed = values.astype(np.float64)
        else:
            alpha = 1.0 - math.exp(-(timestamp - track.smoothed_at) / self.smoothing)
            track.smoothed = track.smoothed + alpha * (values - track.smoothed)
        track.smoothed_at = timestamp
        return track.smoothed

    @staticmethod
    def _result(face_id, visible, box, landmarks, quality, pose, values, state) -> FaceResult:
        n = len(EMOTIONS)
        return FaceResult(
            face_id, visible, box, landmarks, quality, pose,
            dict(zip(EMOTIONS, map(float, values[:n]))), float(values[n]), float(values[n + 1]),
            float(values[n + 2]), dict(zip(ACTION_UNITS, map(float, values[n + 3:]))),
            state.attention, state.engagement, state.status)

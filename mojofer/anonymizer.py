"""The anonymize side of the privacy boundary: video frames in, keypoint
frames out. Detection, landmarks, tracking and face ids happen here; what
comes out holds no pixels, only what may leave the device.

    anon = mojofer.Anonymizer()
    kf = anon.process(frame, timestamp=t)   # KeypointFrame: .timestamp, .faces
    estimates, events = mojofer.Estimator().update(kf)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional, Union

import numpy as np

from ._onethread import OneThread
from .cues import CueParams
from .detect import Box, FaceDetector
from .keypoints import KeypointFace, KeypointFrame
from .landmarks import DEFAULT_MAX_QUALITY, Face, FaceTracker, Landmarker
from .pose import HeadPose


@dataclass
class _Track:
    """One face id: where it was last seen, the FaceTracker's id for it
    while it is tracked, and since when it is lost."""
    box: Box
    tracker_id: Optional[int]
    lost_at: Optional[float] = None


class Anonymizer:
    """Frames in, keypoint frames out: each face's id, box, 68 landmarks,
    fit quality and (pose=True) head pose. The ids are the only ones: an
    Estimator or a server keeps each face's state under them.

    A face keeps its id while it is tracked. A face the tracker loses keeps
    it for `grace` seconds (default: the long interruption's end, 8 s, as
    the Estimator's grace), and a face found near where it was lost, of a
    similar size, within that time gets it back; later it is a new face with
    a new id. At most max_faces faces are followed, lost ones included: a
    new face when all are taken makes the Anonymizer forget the face lost
    longest ago (the Estimator's rule, so both forget the same face), and
    only a frame's first max_faces faces are kept.

    detect_every: frames between detector runs while faces are tracked (to
        pick up newcomers); max_quality, min_size: as FaceTracker's;
    face_crop: True when each frame is a tight crop of one face (a face-crop
        dataset such as FER2013): that face is fitted even where the detector
        finds none (FaceTracker's face_crop);
    pose: True (or a HeadPose) to fit each face's head pose here, for a
        backend that should get it with the keypoints; False leaves it to
        the estimator (the same C code either way).
    Timestamps are seconds and must not decrease. One Anonymizer per video
    stream and thread: a call while another thread is inside process() or
    reset() raises RuntimeError.
    """

    def __init__(self, *, detect_every: int = 10, grace: Optional[float] = None,
                 max_faces: int = 16, max_quality: float = DEFAULT_MAX_QUALITY,
                 min_size: int = 24, detector: Optional[FaceDetector] = None,
                 landmarker: Optional[Landmarker] = None, pose: Union[bool, HeadPose] = False,
                 face_crop: bool = False):
        self.grace = float(CueParams().long_interruption_end if grace is None else grace)
        if not (math.isfinite(self.grace) and self.grace >= 0):
            raise ValueError(f"grace must be a finite number of seconds >= 0, got {grace!r}")
        if isinstance(max_faces, bool) or not isinstance(max_faces, int):
            raise TypeError(f"max_faces must be an int, got {max_faces!r}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be >= 1, got {max_faces!r}")
        self.max_faces = max_faces
        self.pose = HeadPose() if pose is True else (pose or None)
        self.tracker = FaceTracker(detector=detector, landmarker=landmarker,
                                   max_quality=max_quality, detect_every=detect_every,
                                   min_size=min_size, face_crop=face_crop)
        self._one_thread = OneThread("Anonymizer")
        self.reset()

    def reset(self) -> None:
        """Forgets every face and the last timestamp; ids start again at 0."""
        with self._one_thread:
            self.tracker.reset()
            self._tracks: dict[int, _Track] = {}
            self._next_id = 0
            self._last_timestamp: Optional[float] = None

    def process(self, frame: np.ndarray, timestamp: float, *, bgr: bool = False) -> KeypointFrame:
        """The keypoint frame of one video frame taken at `timestamp` seconds."""
        with self._one_thread:
            return self._process(frame, timestamp, bgr)

    def stream(self, frames: Iterable[np.ndarray], fps: Optional[float] = None,
               timestamps: Optional[Iterable[float]] = None, *, bgr: bool = False
               ) -> Iterator[KeypointFrame]:
        """A generator of keypoint frames, timed as Analyzer.stream's."""
        for frame, t in stamped(frames, fps, timestamps):
            yield self.process(frame, t, bgr=bgr)

    def lost(self) -> list[int]:
        """Ids of the faces lost and still within their grace period."""
        return sorted(fid for fid, track in self._tracks.items() if track.lost_at is not None)

    def _process(self, frame: np.ndarray, timestamp: float, bgr: bool) -> KeypointFrame:
        t = self._check_timestamp(timestamp)
        seen = self.tracker.process(frame, bgr=bgr)[:self.max_faces]
        for expired in [fid for fid, track in self._tracks.items()
                        if track.lost_at is not None and t - track.lost_at >= self.grace]:
            del self._tracks[expired]
        by_tracker: dict[Optional[int], int] = {track.tracker_id: fid for fid, track in self._tracks.items()
                                                if track.tracker_id is not None}
        seen_tracker_ids = {face.id for face in seen}
        # faces the tracker dropped, this frame or before: a new detection may be one of them
        unmatched = {fid for fid, track in self._tracks.items()
                     if track.tracker_id not in seen_tracker_ids}
        given = []
        for face in seen:
            fid = by_tracker.get(face.id)
            if fid is None:
                fid = self._claim(face, unmatched)
                unmatched.discard(fid)
            given.append((fid, face))
        for fid in unmatched:
            track = self._tracks[fid]
            track.tracker_id = None
            if track.lost_at is None:
                track.lost_at = t
        fresh = sum(fid not in self._tracks for fid, _ in given)
        while len(self._tracks) + fresh > self.max_faces:
            # every unmatched track is lost, its lost_at set above
            oldest = min(sorted(unmatched),
                         key=lambda fid: self._tracks[fid].lost_at)  # type: ignore[arg-type, return-value]
            del self._tracks[oldest]
            unmatched = {fid for fid in unmatched if fid in self._tracks}
        faces = []
        for fid, face in given:
            self._tracks[fid] = _Track(face.box, face.id)
            pose = self.pose.estimate(face.landmarks) if self.pose is not None else None
            faces.append(KeypointFace(fid, face.landmarks, face.box, face.quality, pose))
        return KeypointFrame(t, tuple(faces))

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

    def _claim(self, face: Face, unmatched: set) -> int:
        """The id of an unmatched face this new detection is (near where it
        was last seen, of a similar size), or a new id."""
        best, best_distance = None, math.inf
        cx, cy = face.box.x + face.box.w / 2, face.box.y + face.box.h / 2
        for fid in unmatched:
            b = self._tracks[fid].box
            distance = math.hypot(b.x + b.w / 2 - cx, b.y + b.h / 2 - cy) / max(b.w, 1.0)
            if distance < 1.0 and 0.5 < face.box.w / max(b.w, 1.0) < 2.0 and distance < best_distance:
                best, best_distance = fid, distance
        if best is not None:
            return best
        fid, self._next_id = self._next_id, self._next_id + 1
        return fid


def stamped(frames: Iterable[np.ndarray], fps: Optional[float] = None,
            timestamps: Optional[Iterable[float]] = None) -> Iterator[tuple[np.ndarray, float]]:
    """(frame, timestamp) pairs: frame i is taken at timestamps[i] if given,
    else at i / fps, else when it arrives (time.monotonic(), for live cameras)."""
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
        yield frame, t

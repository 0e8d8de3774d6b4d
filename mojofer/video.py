"""Video files to tables: `Video` decodes a file one frame at a time
(PyAV, the optional extra mojofer[video]), so memory does not grow with the
video's length; `analyze_video` runs an Analyzer over it and gives two
pandas DataFrames, the faces and the events:

    faces, events = mojofer.analyze_video("clip.mp4")

A pair rather than an attribute: pandas copies df.attrs along with a table,
and Parquet keeps only JSON there.

Face table columns (in this order):
  source        the video's path
  timestamp     the frame's presentation time in seconds, from the container
                (pts * time_base: a variable frame rate or a clip not starting
                at 0 is kept as the file says)
  frame         the frame's index in decoding order (0, 1, ...; with every=n
                only multiples of n appear)
  face_id       the Analyzer's face id, stable while the face is tracked and
                through its grace period; NA on the one row of a frame
                without any face
  visible       False for a lost face still in its grace period (its box,
                landmarks, quality and pose are the last seen); NA without a face
  then the columns of mojofer.dataset from box_x to the action units (box,
                quality, the 136 landmark columns, yaw/pitch/roll, the 7
                emotions, amusement, confusion, the 9 action units); here the
                expressions are the Analyzer's: smoothed over time and read
                against the face's own baseline
  attention     the smoothed attention, 0..1
  engagement, status   the cue state machines' states (docs/cues.md)

Event table columns: source, timestamp (the transition's time), frame (the
frame whose processing reported it), face_id, kind ("face", "engagement" or
"status"), from_state, to_state — the Analyzer's events in order.

The face table's df.attrs: versions, model files (size, sha256), the
analysis parameters and the video's (frame count as the container states
it, frame rate, size, time base).
"""
from __future__ import annotations

import dataclasses
import math
import sys
from fractions import Fraction
from typing import Iterator, Optional

import numpy as np

from .analyzer import Analyzer, FrameResult
from .cues import ENGAGEMENT_PHASES, INTERACTION_STATUSES
from .dataset import NUMERIC_COLUMNS, SOCIAL_KEPT, face_values, model_files, provenance
from .detect import FaceDetector
from .expressions import ACTION_UNITS, EMOTIONS, SOCIAL_EMOTIONS, ExpressionClassifier
from .landmarks import Landmarker
from .pose import HeadPose

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm"}
VALUE_COLUMNS = NUMERIC_COLUMNS + ["attention"]
COLUMNS = ["source", "timestamp", "frame", "face_id", "visible"] + VALUE_COLUMNS + ["engagement", "status"]
# a face row as floats while the table is gathered (all but the source): face_id
# and visible NaN without a face, the states as indexes into the core's lists
ROW_FIELDS = COLUMNS[1:]
EVENT_COLUMNS = ["source", "timestamp", "frame", "face_id", "kind", "from_state", "to_state"]


class Video:
    """A video file's first video stream, decoded as it is read: iterating
    gives (frame index, presentation time in seconds, RGB uint8 (h, w, 3))
    in presentation order; only the decoder's few frames are held at once.

    frame_count: the container's count (None where it does not say; an
    estimate in some formats); fps: its average frame rate (None if unknown).
    A context manager; iterate once."""

    def __init__(self, path):
        try:
            import av
        except ImportError:
            raise OSError("reading video needs PyAV: pip install 'mojofer[video]'") from None
        self.path = str(path)
        self._container = av.open(self.path)
        if not self._container.streams.video:
            self._container.close()
            raise ValueError(f"{self.path}: no video stream")
        self._stream = self._container.streams.video[0]
        self.frame_count = self._stream.frames or None
        rate = self._stream.average_rate
        self.fps = float(rate) if rate else None
        self.width, self.height = self._stream.codec_context.width, self._stream.codec_context.height
        if self._stream.time_base is None:
            self._container.close()
            raise ValueError(f"{self.path}: the video stream has no time base (no frame times)")
        self.time_base: Fraction = self._stream.time_base

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        for index, frame in enumerate(self._container.decode(self._stream)):
            if frame.pts is None:
                raise ValueError(f"{self.path}: frame {index} has no presentation time")
            yield index, float(frame.pts * self.time_base), frame.to_ndarray(format="rgb24")

    def describe(self) -> dict:
        """The stream's facts as JSON-ready values (df.attrs)."""
        return dict(frame_count=self.frame_count, fps=self.fps, width=self.width, height=self.height,
                    time_base=str(self.time_base))

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> "Video":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def video_results(video: Video, analyzer: Analyzer, every: int = 1) -> Iterator[tuple[int, FrameResult]]:
    """(frame index, FrameResult) of every `every`-th frame of `video`,
    analysed at the container's timestamps (`every` is checked at once)."""
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be an int >= 1, got {every!r}")
    return ((index, analyzer.process(frame, timestamp)) for index, timestamp, frame in video
            if index % every == 0)


def analyze_video(path, progress: bool = True, every: int = 1, *, face_crop: bool = False,
                  min_size: int = 24, detector_model=None, landmarks_model=None, pose_model=None,
                  expressions_model=None, client=None, **analyzer_options):
    """Faces, landmarks, pose, expressions and social cues of a video file
    as two pandas DataFrames (faces, events): one row per face per analysed
    frame, lost faces in their grace period included, and one row with
    face_id NA for a frame without any; columns in the module docstring.

    every: analyse every n-th frame (all are decoded; the others are skipped).
    progress: a tqdm bar on stderr (its total from the container's frame count).
    face_crop, min_size, *_model: as analyze_images; analyzer_options: the
    Analyzer's other arguments (detect_every, smoothing, grace, cues,
    max_faces, baseline, max_quality).
    Reading needs PyAV (mojofer[video]): OSError without it or for a file
    that cannot be opened, ValueError (av's errors) for one that cannot be decoded.
    client: a dask.distributed Client (the `dask` extra): the video is
        analysed as one task on a worker (a stream's state machines run in
        frame order, so one video is not split), which reads it at the same
        path; the tables are the local run's. For many videos, map this
        function over them: client.map(mojofer.analyze_video, paths,
        progress=False) runs them on every worker."""
    if client is not None:
        return client.submit(analyze_video, path, False, every, face_crop=face_crop, min_size=min_size,
                             detector_model=detector_model, landmarks_model=landmarks_model,
                             pose_model=pose_model, expressions_model=expressions_model,
                             pure=False, **analyzer_options).result()
    import pandas as pd
    from tqdm import tqdm

    models = model_files(detector_model, landmarks_model, pose_model, expressions_model)
    analyzer = Analyzer(face_crop=face_crop, min_size=min_size, detector=FaceDetector(models["detector"]),
                        landmarker=Landmarker(models["landmarks"]), pose=HeadPose(models["pose"]),
                        expressions=ExpressionClassifier(models["expressions"]), **analyzer_options)
    rows, events = _Rows(len(ROW_FIELDS)), []
    with Video(path) as video:
        results = video_results(video, analyzer, every)
        total = math.ceil(video.frame_count / every) if video.frame_count else None
        for index, result in tqdm(results, total=total, desc="mojofer", unit="frame", disable=not progress,
                                  file=sys.stderr):
            rows.add([_row(result.timestamp, index, face) for face in result.faces or [None]])
            events += [(e.timestamp, index, e.face_id, e.kind, e.from_state, e.to_state) for e in result.events]
        described = video.describe()

    data = rows.array()
    fields, first = dict(zip(ROW_FIELDS, data.T)), ROW_FIELDS.index(VALUE_COLUMNS[0])
    # the table's values are a view of the gathered rows (no second copy); the other columns go beside them
    table = pd.DataFrame(data[:, first:first + len(VALUE_COLUMNS)], columns=VALUE_COLUMNS, copy=False)
    for position, (name, column) in enumerate([
            ("source", [video.path] * len(data)), ("timestamp", fields["timestamp"].copy()),
            ("frame", fields["frame"].astype(np.int64)), ("face_id", pd.array(fields["face_id"], dtype="Int64")),
            ("visible", pd.arrays.BooleanArray(fields["visible"] == 1, np.isnan(fields["visible"])))]):
        table.insert(position, name, column)
    table["engagement"] = _names(ENGAGEMENT_PHASES, fields["engagement"])
    table["status"] = _names(INTERACTION_STATUSES, fields["status"])
    estimator = analyzer.estimator
    table.attrs.update(provenance(
        models, face_crop=face_crop, min_size=min_size, max_quality=analyzer.anonymizer.tracker.max_quality,
        every=every, video=described,
        analyzer=dict(detect_every=analyzer.anonymizer.tracker.detect_every, grace=analyzer.grace,
                      smoothing=analyzer.smoothing, cues=dataclasses.asdict(analyzer.cue_params),
                      # None with cloud=: the server's own settings apply
                      baseline=estimator.baseline if estimator else None,
                      max_faces=estimator.max_faces if estimator else None)))
    event_table = pd.DataFrame(events, columns=EVENT_COLUMNS[1:])
    event_table.insert(0, "source", video.path)
    event_table["face_id"] = event_table["face_id"].astype("Int64")
    return table, event_table


class _Rows:
    """Rows of floats gathered in one array that doubles as it fills. One
    small array kept per frame would pin glibc's heap between the frames'
    freed buffers: measured, each frame's 1.4 KB row then held ~20 KB."""

    def __init__(self, width: int):
        self._data, self._count = np.empty((1024, width)), 0

    def add(self, rows) -> None:
        end = self._count + len(rows)
        if end > len(self._data):
            grown = np.empty((max(end, 2 * len(self._data)), self._data.shape[1]))
            grown[:self._count] = self._data[:self._count]
            self._data = grown
        self._data[self._count:end] = rows
        self._count = end

    def array(self) -> np.ndarray:
        return self._data[:self._count]


def _row(timestamp: float, index: int, face) -> np.ndarray:
    """ROW_FIELDS of one FaceResult (None: a frame without faces; NaN
    fields) as float64, the states as their indexes in the core's lists."""
    if face is None:
        return np.concatenate([[timestamp, index], np.full(len(ROW_FIELDS) - 2, np.nan)])
    expressions = ([face.emotions[name] for name in EMOTIONS]
                   + [getattr(face, SOCIAL_EMOTIONS[i]) for i in SOCIAL_KEPT]
                   + [face.action_units[name] for name in ACTION_UNITS])
    return np.concatenate([[timestamp, index, face.id, face.visible],
                           face_values(face.box, face.quality, face.landmarks, face.pose,
                                       np.array(expressions, np.float64)),
                           [face.attention, ENGAGEMENT_PHASES.index(face.engagement),
                            INTERACTION_STATUSES.index(face.status)]])


def _names(names, codes: np.ndarray) -> np.ndarray:
    """Indexes into `names` (NaN: missing) as an object array of the names (None)."""
    return np.array(list(names) + [None], object)[np.where(np.isnan(codes), len(names), codes).astype(int)]

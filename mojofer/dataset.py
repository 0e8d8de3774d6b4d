"""Datasets of still images to one table: `analyze_images` reads paths,
folders, globs or arrays and gives a pandas DataFrame, one row per face.

Columns (in this order):
  source        the file path as found, or "array[i]" for the i-th item given as an array
  subject       the subject id given (subjects=), else missing
  face_id       0, 1, ... per image in the detector's order; NA on a row without a face
  box_x, box_y, box_w, box_h   the face box in pixels (a face crop's: around its points)
  quality       the landmark fit's predicted error (inter-ocular units, lower is better)
  x0, y0, ..., x67, y67        the 68 landmarks (iBUG order) in pixels: flat float
                columns rather than one nested array column, so that CSV, JSON
                lines and Parquet hold the same table and each point can be
                filtered or averaged alike; `landmarks(df)` gives them (n, 68, 2)
  yaw, pitch, roll             head pose, degrees (mojofer.Pose)
  the 7 EMOTIONS              probabilities, summing to 1
  amusement, confusion        the social emotions (the third, surprise, is
                              P(surprise): the emotion's column)
  the 9 ACTION_UNITS          geometric proxies against the resting face
  error         missing (NA) on a face's row; NO_FACE for a readable image without a face;
                otherwise why the item could not be read (the batch goes on)

df.attrs records how the table was made: versions, each model file with its
size and sha256, face_crop, min_size, max_quality and how subjects were given.
"""
from __future__ import annotations

import glob
import hashlib
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

from . import _core
from .detect import DETECTOR_MODEL, FaceDetector
from .expressions import ACTION_UNITS, EMOTIONS, EXPRESSIONS_MODEL, SOCIAL_EMOTIONS, ExpressionClassifier
from .landmarks import DEFAULT_MAX_QUALITY, LANDMARKS_MODEL, FaceTracker, Landmarker
from .models import model_path
from .pose import POSE_MODEL, HeadPose
from .sample import load_rgb

NO_FACE = "no face found"
LANDMARK_COLUMNS = [f"{axis}{i}" for i in range(68) for axis in "xy"]
BOX_COLUMNS = ["box_x", "box_y", "box_w", "box_h"]
POSE_COLUMNS = ["yaw", "pitch", "roll"]
# the social emotion surprise is P(surprise), the emotion's own column
SOCIAL_KEPT = [i for i, name in enumerate(SOCIAL_EMOTIONS) if name not in EMOTIONS]
EXPRESSION_COLUMNS = list(EMOTIONS) + [SOCIAL_EMOTIONS[i] for i in SOCIAL_KEPT] + list(ACTION_UNITS)
NUMERIC_COLUMNS = BOX_COLUMNS + ["quality"] + LANDMARK_COLUMNS + POSE_COLUMNS + EXPRESSION_COLUMNS
EXPRESSION_SLOTS = [NUMERIC_COLUMNS.index(name) for name in EXPRESSION_COLUMNS]
COLUMNS = ["source", "subject", "face_id"] + NUMERIC_COLUMNS + ["error"]
TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")

Subjects = Union[Sequence, Callable[[str], object], None]


def analyze_images(items, subjects: Subjects = None, face_crop: bool = False, progress: bool = True, *,
                   min_size: int = 24, detector_model=None, landmarks_model=None, pose_model=None,
                   expressions_model=None, client=None, chunk: int = 64):
    """Faces, landmarks, head pose and expression of every image in `items`
    as a pandas DataFrame, one row per face (columns: the module docstring).

    items: an image path, a folder (its files, recursively, in sorted order;
        hidden files skipped), a glob pattern ("faces/**/*.jpg"), a uint8
        image array, or a list mixing them.
    subjects: one id per item of `items` (a folder's or glob's id applies to
        every image in it; None or "" = unknown), or a callable given each
        image's source (path, or "array[i]") returning its id. Each subject's
        baseline is then estimated from all of their faces in the table
        (ExpressionClassifier.classify_many(subjects=)) and their faces are
        read against it; without subjects each face is read alone.
    face_crop: each image is a tight crop of one face (FER2013-style).
    Faces are found as FaceTracker finds them on a first frame (find_landmarks'
    faces, less a detection overlapping one already fitted by IoU > 0.3).
    An unreadable file gives one row with face_id NA and `error` saying why;
    so does an image without a face (`error` == NO_FACE).
    progress: a tqdm bar on stderr.
    *_model: other model files than the bundled ones.
    client: a dask.distributed Client (the `dask` extra): the images are
        analysed on its workers, `chunk` images a task, each task building
        its own models from the settings (the model files must be readable
        at the same paths on every worker; arrays travel with their task).
        The table is the local run's, row for row: baselines (subjects=)
        are estimated here from every worker's faces."""
    import pandas as pd
    from tqdm import tqdm

    items = [items] if isinstance(items, (str, os.PathLike, np.ndarray)) else list(items)
    sources = list(expand(items))
    subject_of = _subject_lookup(subjects, len(items))
    models = model_files(detector_model, landmarks_model, pose_model, expressions_model)
    settings = ImageSettings(tuple(models.items()), face_crop, min_size)
    if client is None:
        analyse = settings.analyser()
        results = (analyse(item) for _, item, _ in sources)
    else:
        futures = client.map(_analyse_chunk, [[item for _, item, _ in sources[i:i + chunk]]
                                              for i in range(0, len(sources), chunk)],
                             settings=settings, pure=False)
        results = (rows for future in futures for rows in future.result())
    classifier = ExpressionClassifier(models["expressions"])

    # per row: the file's fields and its NUMERIC_COLUMNS (NaN without a face);
    # float arrays, not dicts, so a large dataset's table stays small
    face_ids: list[Optional[int]]  # None: an image without a face
    sources_of_rows, subjects_of_rows, face_ids, errors, value_rows, points = [], [], [], [], [], []
    for (source, _, index), (image_values, image_points, error) in tqdm(
            zip(sources, results), total=len(sources), desc="mojofer", unit="image",
            disable=not progress, file=sys.stderr):
        count = len(image_values)
        sources_of_rows += [source] * count
        subjects_of_rows += [subject_of(source, index)] * count
        face_ids += list(range(count)) if error is None else [None]
        errors += [error] * count
        value_rows.append(image_values)
        points.extend(image_points)

    values = np.concatenate(value_rows) if value_rows else np.empty((0, len(NUMERIC_COLUMNS)))
    if subjects is not None and points:
        found = np.array([face_id is not None for face_id in face_ids])
        ids = [None if _unknown(s) else s for s, hit in zip(subjects_of_rows, found) if hit]
        expressions = _expression_values(classifier.classify_many(np.stack(points), subjects=ids))
        values[np.ix_(found, np.asarray(EXPRESSION_SLOTS))] = expressions
    table = pd.concat([pd.DataFrame({"source": sources_of_rows, "subject": subjects_of_rows,
                                     "face_id": pd.array(face_ids, dtype="Int64")}),
                       pd.DataFrame(values, columns=NUMERIC_COLUMNS),
                       pd.DataFrame({"error": errors})], axis=1)
    table.attrs.update(provenance(models, face_crop=face_crop, min_size=min_size,
                                  subjects=None if subjects is None else
                                  ("callable" if callable(subjects) else "per item")))
    return table


@dataclass(frozen=True)
class ImageSettings:
    """What analysing an image needs, picklable: a worker of a cluster
    builds its own C contexts from it (they cannot travel)."""

    models: tuple  # (kind, model file path) pairs
    face_crop: bool
    min_size: int

    def analyser(self):
        """item -> _image_rows(item, ...), with models of its own."""
        models = dict(self.models)
        tracker = FaceTracker(detector=FaceDetector(models["detector"]),
                              landmarker=Landmarker(models["landmarks"]),
                              face_crop=self.face_crop, min_size=self.min_size)
        pose, classifier = HeadPose(models["pose"]), ExpressionClassifier(models["expressions"])
        return lambda item: _image_rows(item, tracker, pose, classifier)


# A cluster worker's analysers, one per thread and settings: loading the
# models for every task would cost more than a small task's images.
_worker_analysers = threading.local()


def _analyse_chunk(items: list, settings: ImageSettings) -> list:
    """A cluster task: each item's _image_rows."""
    cache: dict[Any, Any] = _worker_analysers.__dict__  # the thread's own, keyed by settings
    if settings not in cache:
        cache[settings] = settings.analyser()
    return [cache[settings](item) for item in items]


def landmarks(table) -> np.ndarray:
    """The landmark columns of a table from analyze_images as float32 (n, 68, 2)."""
    return table[LANDMARK_COLUMNS].to_numpy(np.float32).reshape(-1, 68, 2)


def _image_rows(item, tracker: FaceTracker, pose: HeadPose, classifier: ExpressionClassifier):
    """One image's rows: (NUMERIC_COLUMNS values, landmarks, None) of each
    face, or one row of NaN and why there is no face (NO_FACE, or the reason
    the file could not be read)."""
    try:
        values, points = _faces(item, tracker, pose, classifier)
    except Exception as failure:  # any failure of one file (PIL raises many kinds) must not stop the batch
        return np.full((1, len(NUMERIC_COLUMNS)), np.nan), [], f"{type(failure).__name__}: {failure}"
    if not len(values):
        return np.full((1, len(NUMERIC_COLUMNS)), np.nan), [], NO_FACE
    return values, points, None


def _faces(item, tracker: FaceTracker, pose: HeadPose, classifier: ExpressionClassifier):
    """NUMERIC_COLUMNS (k, ...) float64 and the landmarks (k, 68, 2) of the k
    faces of one image (a path or an array)."""
    frame = item if isinstance(item, np.ndarray) else load_rgb(item)
    tracker.reset()  # each image on its own: no tracking from the previous one
    faces = tracker.process(frame)
    if not faces:
        return np.empty((0, len(NUMERIC_COLUMNS))), []
    points = np.stack([f.landmarks for f in faces])
    # read alone; this also refuses a degenerate fit here, as this file's error
    expressions = _expression_values(classifier.classify_many(points))
    values = [face_values(face.box, face.quality, points[i], pose.estimate(points[i]), expressions[i])
              for i, face in enumerate(faces)]
    return np.stack(values), list(points)


def face_values(box, quality: float, points: np.ndarray, pose, expressions: np.ndarray) -> np.ndarray:
    """One face's NUMERIC_COLUMNS as float64: a Box, the fit quality, its
    (68, 2) landmarks, a Pose and its EXPRESSION_COLUMNS values."""
    return np.concatenate([box.as_tuple(), [quality], np.asarray(points, np.float64).ravel(),
                           pose.as_tuple(), expressions])


def _expression_values(expressions) -> np.ndarray:
    """classify_many's answer as float64 (n, len(EXPRESSION_COLUMNS))."""
    return np.hstack([expressions.emotions, expressions.social[:, SOCIAL_KEPT],
                      expressions.action_units]).astype(np.float64)


def _unknown(subject) -> bool:
    """None, "" or the NaN pandas may hold for a missing id."""
    return subject is None or subject == "" or (isinstance(subject, float) and np.isnan(subject))


def expand(items):
    """(source, path or array, index of the item in `items`) for each file
    (a folder's, recursively in sorted order, hidden ones skipped; a glob's
    matches) or array of `items`."""
    for index, item in enumerate(items):
        if isinstance(item, np.ndarray):
            yield f"array[{index}]", item, index
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*")
                           if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts))
            for file in files:
                yield str(file), file, index
        elif not path.exists() and glob.has_magic(str(item)):
            matches = sorted(glob.glob(str(item), recursive=True))
            if not matches:
                yield str(item), path, index  # read as a file: the row says no such file
            for match in matches:
                if Path(match).is_file():
                    yield match, Path(match), index
        else:
            yield str(item), path, index


def _subject_lookup(subjects: Subjects, count: int):
    """source, item index -> subject id (None where not known)."""
    if subjects is None:
        return lambda source, index: None
    if callable(subjects):
        return lambda source, index: subjects(source)
    subjects = list(subjects)
    if len(subjects) != count:
        raise ValueError(f"subjects must hold one id per item ({count}), got {len(subjects)}")
    return lambda source, index: subjects[index]


def model_files(detector, landmarks, pose, expressions) -> dict:
    given = dict(detector=detector, landmarks=landmarks, pose=pose, expressions=expressions)
    bundled = dict(detector=DETECTOR_MODEL, landmarks=LANDMARKS_MODEL, pose=POSE_MODEL,
                   expressions=EXPRESSIONS_MODEL)
    return {kind: Path(given[kind]) if given[kind] is not None else model_path(bundled[kind])
            for kind in bundled}


def provenance(models: dict, **parameters) -> dict:
    """df.attrs of a table: versions, each model file (size, sha256), the
    landmark fit's max_quality (unless given) and the given parameters."""
    described = {}
    for kind, path in models.items():
        data = path.read_bytes()
        described[kind] = dict(file=path.name, path=str(path), bytes=len(data),
                               sha256=hashlib.sha256(data).hexdigest())
    return {"versions": _core.versions(), "models": described, "max_quality": DEFAULT_MAX_QUALITY, **parameters}


def check_table_path(path) -> str:
    """The table format of an output path by its suffix; refuses an unknown
    suffix, and Parquet without pyarrow, before any work is done."""
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"table output must end in {', '.join(TABLE_SUFFIXES)}, got {path}")
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise OSError("writing .parquet needs pyarrow: pip install 'mojofer[parquet]' "
                          "(or write .csv / .jsonl)") from None
    return suffix


def write_table(table, path) -> None:
    """The table to .csv, .jsonl (one JSON object a line, 15 significant
    digits) or .parquet (which also keeps df.attrs), by the path's suffix."""
    suffix = check_table_path(path)
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".jsonl":
        table.to_json(path, orient="records", lines=True, double_precision=15)
    else:
        table.to_parquet(path, index=False)

"""Figures of mojofer's tables (matplotlib: pip install 'mojofer[plot]').

Each function returns a matplotlib Figure and, given `path`, also saves it
there as a PNG (DPI pixels per inch of its size). The figures are made
without pyplot, so they need no display and leave pyplot's state alone; in
a notebook, show one by leaving it as a cell's value.

  landmarks(image, points)         68 points and their contours over an image
  emotion_timeline(video)          the 7 emotions over time, a panel per face
  engagement_ribbon(video)         engagement phase and interaction status over time
  confusion(matrix, classes)       a confusion matrix with counts and row shares
  ced(errors)                      cumulative landmark error curves

`video` is a DataFrame with one row per face per frame: columns timestamp
(seconds), face_id, the 7 emotions (mojofer.EMOTIONS), engagement and status.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from ._core import ENGAGEMENT_PHASES, INTERACTION_STATUSES
from .expressions import EMOTIONS
from .metrics import FAILURE_NME
from .metrics import ced as cumulative_share

DPI = 100
# iBUG 68: the runs of points drawn as one line each, and whether the run closes
CONTOURS = [(range(0, 17), False), (range(17, 22), False), (range(22, 27), False), (range(27, 31), False),
            (range(31, 36), False), (range(36, 42), True), (range(42, 48), True), (range(48, 60), True),
            (range(60, 68), True)]
EMOTION_COLORS = {"neutral": "#9e9e9e", "happiness": "#f2b701", "sadness": "#3969ac", "surprise": "#11a579",
                  "fear": "#7f3c8d", "disgust": "#80ba5a", "anger": "#e73f74"}
# later phases and statuses darker: idle is the palest
ENGAGEMENT_COLORS = dict(zip(ENGAGEMENT_PHASES, ["#eeeeee", "#9ecae1", "#2171b5", "#fdae6b"]))
STATUS_COLORS = dict(zip(INTERACTION_STATUSES, ["#eeeeee", "#c7e9c0", "#238b45", "#fdd0a2", "#d94801"]))


def landmarks(image, points, path=None, color: str = "#39ff14", size: float = 6.0):
    """`image` (an RGB array or an image file) with the 68 landmarks of each
    face of `points`: a (68, 2) or (n, 68, 2) array, a row of an
    analyze_images table, or a table (each of its rows with a face)."""
    from .dataset import LANDMARK_COLUMNS
    from .sample import load_rgb

    frame = np.asarray(image) if isinstance(image, np.ndarray) else load_rgb(image)
    if hasattr(points, "reindex"):  # a pandas row or table
        values = (points.reindex(columns=LANDMARK_COLUMNS) if points.ndim == 2
                  else points.reindex(LANDMARK_COLUMNS)).to_numpy(float)
        points = values.reshape(-1, 68, 2)
        points = points[~np.isnan(points).any(axis=(1, 2))]
    points = np.asarray(points, float).reshape(-1, 68, 2)
    height, width = frame.shape[:2]
    scale = 6.0 / max(height, width)
    fig = _figure(width * scale, height * scale)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(frame, cmap="gray" if frame.ndim == 2 else None)
    for face in points:
        for run, closed in CONTOURS:
            line = face[list(run) + ([run[0]] if closed else [])]
            ax.plot(line[:, 0], line[:, 1], color=color, linewidth=1.0, alpha=0.8)
        ax.scatter(face[:, 0], face[:, 1], s=size, color=color, edgecolors="black", linewidths=0.3, zorder=3)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.axis("off")
    return _saved(fig, path)


def emotion_timeline(video, face_ids: Optional[Sequence] = None, path=None):
    """The 7 emotion probabilities of each face over time, stacked to 1, one
    panel per face (face_ids: those faces, default every face, most rows
    first); left blank where the face has no rows for over 3 of its frame steps."""
    faces = _faces(video, face_ids)
    fig = _figure(10, 0.6 + 1.8 * len(faces))
    axes = fig.subplots(len(faces), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (face_id, rows) in zip(axes, faces):
        times, shares = rows["timestamp"].to_numpy(float), rows[list(EMOTIONS)].to_numpy(float)
        gaps = np.flatnonzero(np.diff(times) > 3 * _step(times))
        # a NaN row inside each gap: fill_between leaves it empty instead of bridging it
        times = np.insert(times, gaps + 1, times[gaps] + _step(times))
        shares = np.insert(shares, gaps + 1, np.nan, axis=0)
        ax.stackplot(times, shares.T,
                     colors=[EMOTION_COLORS[e] for e in EMOTIONS], labels=EMOTIONS, linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face {face_id}")
        ax.margins(x=0)
    axes[0].legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=len(EMOTIONS), fontsize=8, frameon=False)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return _saved(fig, path)


def engagement_ribbon(video, face_ids: Optional[Sequence] = None, path=None):
    """Per face, two ribbons over time: its engagement phase and its
    interaction status, each frame's value drawn until the face's next row
    (a gap where the face has no rows for longer than 3 of its frame steps)."""
    faces = _faces(video, face_ids)
    height = 1.7 + 0.7 * len(faces)
    fig = _figure(10, height)
    ax = fig.add_subplot()
    labels = []
    for k, (face_id, rows) in enumerate(faces):
        times = rows["timestamp"].to_numpy(float)
        for j, (column, colors) in enumerate((("engagement", ENGAGEMENT_COLORS), ("status", STATUS_COLORS))):
            y = (2 * k + j) * 1.0
            for start, length, value in _spans(times, rows[column].astype(str).to_numpy()):
                ax.broken_barh([(start, length)], (y + 0.1, 0.8), color=colors.get(value, "white"))
            labels.append(f"face {face_id} {column}")
    ax.set_yticks(np.arange(len(labels)) + 0.5, labels)
    ax.set_ylim(len(labels), 0)
    ax.set_xlabel("time (s)")
    ax.margins(x=0)
    from matplotlib.patches import Patch
    for left, title, colors in ((0.1, "engagement", ENGAGEMENT_COLORS), (0.5, "status", STATUS_COLORS)):
        fig.legend(handles=[Patch(color=c, label=v.replace("_", " ")) for v, c in colors.items()], title=title,
                   loc="upper left", bbox_to_anchor=(left, 1.0), ncol=3, fontsize=8, title_fontsize=8,
                   frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.7 / height))  # room above the ribbons for the legends
    return _saved(fig, path)


def confusion(matrix: np.ndarray, classes: Sequence[str], path=None, title: str = ""):
    """A (C, C or C + 1) confusion matrix, true class down and predicted
    across (a last column beyond the classes is "no face"): each cell's count,
    shaded by its share of the row."""
    matrix = np.asarray(matrix)
    predicted = list(classes) + ["no face"] * (matrix.shape[1] - len(classes))
    fig = _figure(1.2 + 0.75 * matrix.shape[1], 1.2 + 0.7 * matrix.shape[0])
    ax = fig.add_subplot()
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i, j in np.ndindex(*matrix.shape):
        ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=9,
                color="white" if shares[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(predicted)), predicted, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _saved(fig, path)


def ced(errors: Mapping[str, np.ndarray], path=None, limit: float = 2 * FAILURE_NME):
    """Cumulative error distribution of each named set of NMEs (a missed
    face's NME is inf, so a curve tops out at the share of faces found)."""
    thresholds = np.linspace(0, limit, 401)
    fig = _figure(6, 4.5)
    ax = fig.add_subplot()
    for name, values in errors.items():
        ax.plot(thresholds * 100, cumulative_share(values, thresholds), label=f"{name} ({len(values)} faces)")
    ax.axvline(FAILURE_NME * 100, color="gray", linestyle=":", linewidth=1)
    ax.set_xlim(0, limit * 100)
    ax.set_ylim(0, 1)
    ax.set_xlabel("NME (% of the outer-eye-corner distance)")
    ax.set_ylabel("share of faces")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return _saved(fig, path)


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("mojofer.plot needs matplotlib: pip install 'mojofer[plot]'") from None
    return Figure(figsize=(width, height), dpi=DPI)


def _saved(fig, path):
    if path is not None:
        fig.savefig(Path(path), dpi=DPI)
    return fig


def _faces(video, face_ids):
    """[(face_id, its rows in time order)], every face with a row by default, most rows first."""
    video = video[video["face_id"].notna()]
    if face_ids is None:
        face_ids = list(video["face_id"].value_counts().index)
    faces = [(face_id, video[video["face_id"] == face_id].sort_values("timestamp")) for face_id in face_ids]
    if not faces:
        raise ValueError("no face rows to plot")
    return faces


def _step(times: np.ndarray) -> float:
    """A face's usual time between rows: the median step (1 s for one row)."""
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def _spans(times: np.ndarray, values: np.ndarray):
    """(start, length, value) runs of equal values; each row lasts until the
    next, the last one a median step, and a gap over 3 steps is left empty."""
    step = _step(times)
    ends = np.append(times[1:], times[-1] + step)
    ends = np.minimum(ends, times + 3 * step)
    start = 0
    for i in range(1, len(times) + 1):
        if i == len(times) or values[i] != values[start] or ends[i - 1] < times[i]:
            yield float(times[start]), float(ends[i - 1] - times[start]), values[start]
            start = i

"""Scores of a method against labels: classification (accuracy, macro-F1,
per-class recall, a confusion matrix with a "no face" column), landmark
error (NME, CED) and bootstrap intervals. Pure numpy: mojofer.evaluate and
the benchmarks score with these, so both report the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from .detect import iou

BOOTSTRAP_RESAMPLES = 1000
# a found face is the labelled one at this IoU of its box with the tight box of the true points
FACE_MIN_IOU = 0.3
# a landmark fit fails beyond this NME (and where no face was found)
FAILURE_NME = 0.08


@dataclass
class Classification:
    """Scores of predicted class indices against true ones, over C classes;
    a prediction of C (len(classes)) is "no face found" and counts as an error."""
    accuracy: float
    macro_f1: float
    recall: np.ndarray     # (C,), NaN for a class without a true item
    confusion: np.ndarray  # (C, C + 1) counts: true class x predicted class, last column = no face
    missed: int            # items predicted "no face"

    @classmethod
    def of(cls, truth: np.ndarray, predicted: np.ndarray, classes: int) -> "Classification":
        """Macro-F1 is the mean of 2·TP / (2·TP + FP + FN) over the classes
        that are true or predicted at least once (as scikit-learn's
        f1_score(average="macro") over those labels), so that a subset
        without some class is not marked down for it."""
        truth, predicted = np.asarray(truth, int), np.asarray(predicted, int)
        confusion = np.zeros((classes, classes + 1), int)
        np.add.at(confusion, (truth, predicted), 1)
        tp = np.diag(confusion[:, :classes])
        fn = confusion.sum(axis=1) - tp
        fp = confusion[:, :classes].sum(axis=0) - tp
        seen = tp + fp + fn > 0
        with np.errstate(invalid="ignore"):
            recall = tp / (tp + fn)
            f1 = float(np.mean(2 * tp[seen] / (2 * tp + fp + fn)[seen])) if seen.any() else float("nan")
        return cls(float(np.mean(truth == predicted)) if len(truth) else float("nan"), f1,
                   recall, confusion, int((predicted == classes).sum()))


def bootstrap_interval(statistic: Callable[[np.ndarray], np.ndarray], groups: np.ndarray,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of statistic(indices) (a vector of values, NaN
    where a resample leaves one undefined) over resamples that draw whole
    groups with replacement: groups = one label per item (np.arange(n) for
    items drawn singly, subject ids where items of a subject hang together).
    The same seed gives the same resamples, so that two methods scored on
    the same items are compared on the same draws."""
    _, group = np.unique(groups, return_inverse=True)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(group.max() + 1))
    counts = np.bincount(group)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        picks = rng.integers(0, len(counts), len(counts))
        # the members of every picked group: its run of `order`, repeated per pick
        offsets = np.arange(counts[picks].sum()) - np.repeat(np.cumsum(counts[picks]) - counts[picks],
                                                             counts[picks])
        values.append(statistic(order[np.repeat(starts[picks], counts[picks]) + offsets]))
    tail = (1 - level) / 2 * 100
    with np.errstate(invalid="ignore"):
        low, high = np.nanpercentile(np.array(values, float), [tail, 100 - tail], axis=0)
    return low, high


def nme(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Mean point error over the outer-eye-corner distance (points 36 and
    45 of the truth, 0-based iBUG order), for (..., 68, 2) arrays."""
    scale = np.linalg.norm(truth[..., 36, :] - truth[..., 45, :], axis=-1)
    return np.linalg.norm(pred - truth, axis=-1).mean(axis=-1) / scale


def ced(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Cumulative error distribution: the share of all faces (a missed face's
    error is inf) whose NME is at most each threshold."""
    errors = np.asarray(errors, float)
    return (errors[:, None] <= np.asarray(thresholds, float)[None, :]).mean(axis=0)


def landmark_summary(errors: np.ndarray) -> dict:
    """Faces, found, mean NME over those found, median over all (a miss is
    inf), failure rate (a miss or NME > FAILURE_NME) and the area under the
    CED up to FAILURE_NME, as a share of its maximum."""
    errors = np.asarray(errors, float)
    found = np.isfinite(errors)
    thresholds = np.linspace(0, FAILURE_NME, 161)
    median = float(np.median(errors)) if len(errors) else float("nan")
    return {"faces": len(errors), "found": int(found.sum()), "misses": int((~found).sum()),
            "mean_nme": float(errors[found].mean()) if found.any() else None,
            "median_nme": median if np.isfinite(median) else None,
            "failure_rate": float(np.mean(errors > FAILURE_NME)) if len(errors) else None,
            "auc": _area(ced(errors, thresholds), thresholds) / FAILURE_NME if len(errors) else None}


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoidal area under y(x)."""
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)))


def tight_box(shape: np.ndarray) -> np.ndarray:
    """The (x, y, w, h) bounding box of (n, 2) points."""
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


def choose_face(boxes: Sequence[np.ndarray], truth: np.ndarray,
                accept: Optional[Callable[[np.ndarray, np.ndarray], bool]] = None) -> Optional[int]:
    """Which of a method's face boxes (x, y, w, h) is the labelled face with
    points `truth`: the one whose centre is nearest the centre of the truth's
    tight box, if accept(box, tight box) (default: IoU ≥ FACE_MIN_IOU);
    None (no face found) otherwise."""
    if not len(boxes):
        return None
    truth_box = tight_box(truth)
    centre = truth_box[:2] + truth_box[2:] / 2
    nearest = int(np.argmin([np.hypot(*(np.asarray(b[:2]) + np.asarray(b[2:]) / 2 - centre)) for b in boxes]))
    box = np.asarray(boxes[nearest], float)
    accepted = accept(box, truth_box) if accept is not None else iou(box, truth_box) >= FACE_MIN_IOU
    return nearest if accepted else None

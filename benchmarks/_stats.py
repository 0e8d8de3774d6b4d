"""Statistics the benchmarks report: bootstrap intervals, calibration error,
temperature scaling. Pure numpy, so that they can be checked on known inputs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
CALIBRATION_BINS = 15
# log-spaced candidates, about 1.5 % apart: finer than the fit's own noise
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 401))


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
    low, high = np.nanpercentile(np.array(values, float), [tail, 100 - tail], axis=0)
    return low, high


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               bins: int = CALIBRATION_BINS) -> float:
    """Σ over equal-width bins (lo, hi] of the top-class probability of
    (share of faces in the bin) · |accuracy in the bin − mean confidence in it|."""
    confidence = np.asarray(confidence, float)
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.sum() * abs(np.mean(correct[inside]) - confidence[inside].mean())
    return float(total / len(confidence))


def with_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T): the model's logits (up to a constant per row) divided by T."""
    logits = np.log(np.maximum(np.asarray(probabilities, float), 1e-30)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return scaled / scaled.sum(axis=1, keepdims=True)


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature of TEMPERATURES with the lowest mean negative log
    likelihood of `labels` under with_temperature(probabilities, T)."""
    rows = np.arange(len(labels))
    losses = [-np.log(with_temperature(probabilities, t)[rows, labels] + 1e-30).mean()
              for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])

"""Statistics the benchmarks report besides mojofer.metrics' (accuracy, F1,
bootstrap intervals, NME): calibration error, temperature scaling. Pure numpy, so that they can be checked on known inputs.
"""
from __future__ import annotations

import numpy as np

CALIBRATION_BINS = 15
# log-spaced candidates, about 1.5 % apart: finer than the fit's own noise
TEMPERATURES = np.exp(np.linspace(np.log(0.05), np.log(20.0), 401))


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

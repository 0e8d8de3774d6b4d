"""NumPy reference of the expression features, the person baseline and the MLP
(csrc/estimate/expression.c and csrc/estimate/mlp.c compute the same; the tests
hold them to 1e-5).

Shapes are aligned to the model's reference shape (outer eye corners 1 apart,
eyes level, mirror-symmetric) by the least-squares similarity transform of the
points that expressions barely move: the eye corners and the nose. Brows,
lids, lips and jaw are then measured in that frame, in inter-ocular units.
"""
from __future__ import annotations

import numpy as np

from .. import _core
from ..landmarks import MIRROR

# Points that fix the similarity transform: nose bridge and base, eye corners.
STABLE = np.array([27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45])

# Geometric action-unit proxies, in inter-ocular units relative to a neutral
# shape (0 = as neutral; positive = the action is present).
ACTION_UNITS = _core.ACTION_UNITS
# faces of one person for a baseline to count as established (weight 1)
SETTLED_FACES = _core.BASELINE_SETTLED_FACES
# added to P(neutral) in a face's calm, so a person the population never
# reads as neutral still gets a baseline (MF_BASELINE_MIN_CALM)
MIN_CALM = 0.05


def align(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(..., 68, 2) shapes mapped onto `reference` by the similarity transform
    that best fits their STABLE points (least squares)."""
    p = points[..., STABLE, :].astype(np.float64)
    r = reference[STABLE].astype(np.float64)
    pc, rc = p.mean(axis=-2, keepdims=True), r.mean(axis=0)
    px, py = (p - pc)[..., 0], (p - pc)[..., 1]
    rx, ry = (r - rc)[:, 0], (r - rc)[:, 1]
    norm = (px * px + py * py).sum(axis=-1)
    a = (px * rx + py * ry).sum(axis=-1) / norm
    b = (px * ry - py * rx).sum(axis=-1) / norm
    c = points.astype(np.float64) - pc
    x = a[..., None] * c[..., 0] - b[..., None] * c[..., 1] + rc[0]
    y = b[..., None] * c[..., 0] + a[..., None] * c[..., 1] + rc[1]
    return np.stack([x, y], axis=-1)


def mirror(points: np.ndarray) -> np.ndarray:
    """The same face flipped left-right (x negated, points renumbered)."""
    out = points[..., MIRROR, :].copy()
    out[..., 0] *= -1
    return out


def measures(q: np.ndarray) -> np.ndarray:
    """Raw geometric measures of aligned shapes (..., 68, 2) -> (..., 9),
    one per ACTION_UNITS entry, before the neutral is subtracted. y grows
    downwards, so heights above the eye line are eye_y - y."""
    x, y = q[..., 0], q[..., 1]
    eye_y = (y[..., 36] + y[..., 39] + y[..., 42] + y[..., 45]) / 4
    inner_brow = eye_y - (y[..., 21] + y[..., 22]) / 2
    outer_brow = eye_y - (y[..., 17] + y[..., 26]) / 2
    brow_gap = x[..., 22] - x[..., 21]
    # Lower lids relative to the eye corners: up when the cheeks rise.
    lower_lid = (y[..., 40] + y[..., 41] + y[..., 46] + y[..., 47]) / 4 - eye_y
    opening = ((y[..., 41] - y[..., 37]) + (y[..., 40] - y[..., 38]) + (y[..., 47] - y[..., 43])
               + (y[..., 46] - y[..., 44])) / 4
    corner_y = (y[..., 48] + y[..., 54]) / 2
    mouth_width = x[..., 54] - x[..., 48]
    lip_middle_y = (y[..., 62] + y[..., 66]) / 2
    return np.stack([
        inner_brow,                                   # brow_raise_inner
        outer_brow,                                   # brow_raise_outer
        -(inner_brow + brow_gap) / 2,                 # brow_lowerer: inner brows down, together
        -lower_lid,                                   # cheek_raise
        (y[..., 33] - corner_y) + mouth_width / 2,    # lip_corner_pull
        corner_y - lip_middle_y,                      # lip_corner_depress
        y[..., 66] - y[..., 62],                      # lips_part
        y[..., 8] - y[..., 33],                       # jaw_drop
        -opening,                                     # eye_closure (scaled below)
    ], axis=-1)


def opening_of(shape_measures: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """A resting face's eye opening (> 0), or `fallback` where its eyes are shut."""
    opening = -shape_measures[..., 8]
    return np.where(opening > 0, opening, fallback)


def describe_against(q: np.ndarray, face: np.ndarray, rest_measures: np.ndarray,
                     opening: np.ndarray) -> np.ndarray:
    """Aligned shapes (..., 68, 2) against a resting face (..., 68, 2) with
    its measures (..., 9) and eye opening (...): the 136 offsets and the 9
    action units (eye closure as the fraction of the opening that is gone)."""
    offsets = (q - face).reshape(*q.shape[:-2], -1)
    units = measures(q) - rest_measures
    units[..., 8] = units[..., 8] / opening
    return np.concatenate([offsets, units], axis=-1)


def resting_faces(baselines, weights, neutral_shape: np.ndarray, shape: tuple) -> np.ndarray:
    """weight x baseline + (1 - weight) x neutral_shape for faces of batch
    `shape` (no baselines: the neutral shape, weight 0)."""
    if baselines is None:
        return np.broadcast_to(neutral_shape.astype(np.float64), (*shape, 68, 2)), np.zeros(shape)
    w = np.asarray(weights, np.float64)
    return w[..., None, None] * baselines + (1 - w[..., None, None]) * neutral_shape, w


def features(points: np.ndarray, reference: np.ndarray, neutral_shape: np.ndarray,
             baselines=None, weights=None) -> np.ndarray:
    """(..., 68, 2) frame points -> (..., 291) MLP inputs: against the
    population (offsets from the reference, units against the neutral
    shape), against the resting face (the baseline, aligned as align()
    gives it, blended with the neutral shape by its weight; none = weight
    0), and the weight."""
    q = align(points, reference)
    population = measures(neutral_shape.astype(np.float64))
    population_opening = -population[8]
    rest, w = resting_faces(baselines, weights, neutral_shape, q.shape[:-2])
    rest_measures = measures(rest)
    return np.concatenate([
        describe_against(q, reference.astype(np.float64), population, population_opening),
        describe_against(q, rest, rest_measures, opening_of(rest_measures, population_opening)),
        w[..., None]], axis=-1)


def action_units(points, reference, neutral_shape, baselines=None, weights=None) -> np.ndarray:
    """The action units mf_expression reports: against the resting face."""
    return features(points, reference, neutral_shape, baselines, weights)[..., 281:290]


def mlp_forward(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Logits of a ReLU MLP: layers = [(W (out, in), b (out,)), ...]."""
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def probabilities(points, reference, neutral_shape, mean, std, layers, baselines=None,
                  weights=None) -> np.ndarray:
    """Class probabilities of (..., 68, 2) shapes: the mean of the softmax of
    the face and of its mirror image (with its baseline's), so a mirrored
    face scores the same."""
    out = 0
    for mirrored in (False, True):
        shape = mirror(points) if mirrored else points
        base = mirror(baselines) if mirrored and baselines is not None else baselines
        x = (features(shape, reference, neutral_shape, base, weights) - mean) / std
        out = out + softmax(mlp_forward(x, layers))
    return out / 2


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per column of values (n, ...), the smallest value at which the
    weights (n,) of the values sorted up to it reach half of all."""
    order = np.argsort(values, axis=0, kind="stable")
    cumulative = np.cumsum(np.asarray(weights, np.float64)[order], axis=0)
    at = np.argmax(cumulative >= cumulative[-1] / 2, axis=0)
    return np.take_along_axis(np.take_along_axis(values, order, axis=0), at[None], axis=0)[0]


def calm(plain_probabilities: np.ndarray) -> np.ndarray:
    """How much at rest faces are, from their probabilities against the
    population (no baseline): P(neutral) + MIN_CALM."""
    return plain_probabilities[..., 0] + MIN_CALM


def baseline(points: np.ndarray, reference: np.ndarray, calmness: np.ndarray) -> tuple[np.ndarray, float]:
    """One person's resting face from (n, 68, 2) of their faces and how
    calm each is (calm()): per coordinate the calm-weighted median of the
    aligned shapes; weight min(1, n / SETTLED_FACES)."""
    aligned = align(points, reference).astype(np.float32)
    return weighted_median(aligned, calmness.astype(np.float32)), min(1.0, len(points) / SETTLED_FACES)

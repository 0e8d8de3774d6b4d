"""NumPy reference of the expression features and the MLP (csrc/estimate/expression.c
and csrc/estimate/mlp.c compute the same; the tests hold them to 1e-5).

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


def action_units(q: np.ndarray, neutral_measures: np.ndarray) -> np.ndarray:
    """Measures minus the neutral's; eye closure as the fraction of the
    neutral eye opening that is gone (1 = shut)."""
    m = measures(q)
    out = m - neutral_measures
    out[..., 8] = out[..., 8] / -neutral_measures[8]
    return out


def features(points: np.ndarray, reference: np.ndarray, neutral_measures: np.ndarray) -> np.ndarray:
    """(..., 68, 2) frame points -> (..., 136 + 9) MLP inputs: the aligned
    shape's offsets from the reference and the action-unit proxies."""
    q = align(points, reference)
    offsets = (q - reference).reshape(*q.shape[:-2], -1)
    return np.concatenate([offsets, action_units(q, neutral_measures)], axis=-1)


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


def probabilities(points, reference, neutral_measures, mean, std, layers) -> np.ndarray:
    """Class probabilities of (..., 68, 2) shapes: the mean of the softmax of
    the face and of its mirror image, so a mirrored face scores the same."""
    out = 0
    for shape in (points, mirror(points)):
        x = (features(shape, reference, neutral_measures) - mean) / std
        out = out + softmax(mlp_forward(x, layers))
    return out / 2

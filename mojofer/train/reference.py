"""Pure-NumPy reference of the landmark regressor's inference (csrc/landmarks.c).

Slow and plain on purpose: tests check the C core against it, and it states
the algorithm in a dozen lines a reader can follow.
"""
from __future__ import annotations

import numpy as np

HOG_CELLS, HOG_CELL, HOG_BINS = 2, 4, 8
HOG_GRID = HOG_CELLS * HOG_CELL
HOG_EPSILON = 1e4


def luma(frame: np.ndarray) -> np.ndarray:
    """uint8 frame (gray or RGB) -> float64 luma, the core's fixed-point BT.601."""
    if frame.ndim == 2:
        return frame.astype(np.float64)
    r, g, b = (frame[..., c].astype(np.int64) for c in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + 8192) >> 14).astype(np.float64)


def sample(gray: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples with coordinates clamped to the image."""
    h, w = gray.shape
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = gray[y0, x0] + fx * (gray[y0, x1] - gray[y0, x0])
    bottom = gray[y1, x0] + fx * (gray[y1, x1] - gray[y1, x0])
    return top + fy * (bottom - top)


def orientation(dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Unsigned orientation in [0, pi) by the core's octant fold + polynomial atan."""
    flip = (dy < 0) | ((dy == 0) & (dx < 0))
    dx, dy = np.where(flip, -dx, dx), np.where(flip, -dy, dy)
    ax, ay = np.abs(dx), np.abs(dy)
    big = np.maximum(ax, ay)
    t = np.where(big > 0, np.minimum(ax, ay) / np.where(big > 0, big, 1), 0.0)
    a = t * (np.pi / 4) + 0.273 * t * (1 - t)
    a = np.where(ay > ax, np.pi / 2 - a, a)
    return np.where(dx < 0, np.pi - a, a)


def similarity(mean_shape: np.ndarray, shape: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(a, b, centre): shape ~ [[a, -b], [b, a]] @ mean_shape + centre, least squares."""
    centre = shape.mean(axis=0)
    x = shape - centre
    norm = (mean_shape ** 2).sum()
    a = (mean_shape * x).sum() / norm
    b = (mean_shape[:, 0] * x[:, 1] - mean_shape[:, 1] * x[:, 0]).sum() / norm
    return a, b, centre


def features(gray: np.ndarray, shape: np.ndarray, mean_shape: np.ndarray, radius: float) -> np.ndarray:
    a, b, _ = similarity(mean_shape, shape)
    step = radius / (HOG_GRID / 2)
    offsets = (np.arange(HOG_GRID + 2) - (HOG_GRID + 1) / 2) * step
    u, v = np.meshgrid(offsets, offsets)  # v varies along rows
    out = []
    for px, py in shape:
        patch = sample(gray, px + a * u - b * v, py + b * u + a * v)
        dx = patch[1:-1, 2:] - patch[1:-1, :-2]
        dy = patch[2:, 1:-1] - patch[:-2, 1:-1]
        mag = np.sqrt(dx ** 2 + dy ** 2)
        pos = orientation(dx, dy) / (np.pi / HOG_BINS) - 0.5
        lower = np.floor(pos)
        w = pos - lower
        b0 = (lower.astype(int) + HOG_BINS) % HOG_BINS
        b1 = (b0 + 1) % HOG_BINS
        cell = (np.arange(HOG_GRID)[:, None] // HOG_CELL) * HOG_CELLS + np.arange(HOG_GRID)[None, :] // HOG_CELL
        hist = np.zeros(HOG_CELLS * HOG_CELLS * HOG_BINS)
        np.add.at(hist, cell * HOG_BINS + b0, mag * (1 - w))
        np.add.at(hist, cell * HOG_BINS + b1, mag * w)
        out.append(hist / np.sqrt(HOG_EPSILON + (hist ** 2).sum()))
    return np.concatenate(out)


def canonical_offset(mean_shape: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """The shape in the mean shape's frame, minus the mean shape, flattened."""
    a, b, centre = similarity(mean_shape, shape)
    inverse = np.array([[a, b], [-b, a]]) / (a * a + b * b)
    return ((shape - centre) @ inverse.T - mean_shape).ravel()


def pose_cluster(tensors: dict, shape: np.ndarray) -> int:
    if "pose_edges" not in tensors:
        return 0
    t = tensors["pose_axis"].astype(np.float64) @ canonical_offset(tensors["mean_shape"].astype(np.float64), shape)
    return int(np.searchsorted(tensors["pose_edges"].astype(np.float64), t, side="right"))


def refine(tensors: dict, gray: np.ndarray, shape: np.ndarray) -> tuple[np.ndarray, float]:
    """Runs the cascade from `shape`; returns (points, quality)."""
    mean_shape = tensors["mean_shape"].astype(np.float64)
    shape = shape.astype(np.float64).copy()
    clusters = len(tensors["pose_edges"]) + 1 if "pose_edges" in tensors else 1
    basis_size = tensors["shape_basis"].shape[1]
    stages = tensors["regressor"].reshape(len(tensors["stage_radius"]), clusters, basis_size, -1)
    for radius, regressors in zip(tensors["stage_radius"], stages):
        x = np.append(features(gray, shape, mean_shape, float(radius)), 1.0)
        regressor = regressors[pose_cluster(tensors, shape)].astype(np.float64)
        delta = (tensors["shape_basis"].astype(np.float64) @ (regressor @ x)).reshape(-1, 2)
        a, b, _ = similarity(mean_shape, shape)
        shape += delta @ np.array([[a, b], [-b, a]])
    return shape, float(tensors["quality"].astype(np.float64) @ x)


def fit_box(tensors: dict, frame: np.ndarray, box) -> tuple[np.ndarray, float]:
    x, y, w, h = box
    start = np.asarray(box[:2], np.float64) + tensors["box_shape"].astype(np.float64) * (w, h)
    return refine(tensors, luma(frame), start)


def posed_mean_shape(mean_shape: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The mean shape placed with the position, size and rotation of `points`."""
    a, b, centre = similarity(mean_shape, points)
    return mean_shape @ np.array([[a, b], [-b, a]]) + centre


def fit_points(tensors: dict, frame: np.ndarray, initial: np.ndarray) -> tuple[np.ndarray, float]:
    """Tracking: the mean shape posed like `initial`, then the cascade."""
    start = posed_mean_shape(tensors["mean_shape"].astype(np.float64), initial.astype(np.float64))
    return refine(tensors, luma(frame), start)

"""Pure-NumPy reference of the landmark regressor's inference (csrc/anonymize/landmarks.c).

Slow and plain on purpose: tests check the C core against it, and it states
the algorithm in a dozen lines a reader can follow.
"""
from __future__ import annotations

import numpy as np

HOG_CELLS, HOG_CELL, HOG_BINS = 2, 4, 8
HOG_GRID = HOG_CELLS * HOG_CELL
HOG_EPSILON = 1e4
READ_SCALE = 80.0  # MF_LANDMARK_READ_SCALE


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


def read_grid(gray: np.ndarray, scale: float) -> tuple[np.ndarray, int, float]:
    """(grid, step, offset): the luma a fit of a face of `scale` pixels per
    canonical unit reads, grid point (i, j) at frame position step * (i, j)
    + offset: the frame itself, or for a large face every step-th pixel."""
    h, w = gray.shape
    step = int(min(scale / READ_SCALE + 0.5, 1e6)) if scale >= READ_SCALE else 1
    while step > 1 and ((w - 1 - step // 2) // step + 1 < 2 or (h - 1 - step // 2) // step + 1 < 2):
        step -= 1
    if step == 1:
        return gray, 1, 0.0
    return gray[step // 2::step, step // 2::step], step, float(step // 2)


def sample_grid(grid: tuple[np.ndarray, int, float], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a read grid at frame positions."""
    image, step, offset = grid
    return sample(image, (x - offset) / step, (y - offset) / step)


def scale_of(mean_shape: np.ndarray, shape: np.ndarray) -> float:
    """Pixels per canonical unit (the outer eye corners' distance)."""
    a, b, _ = similarity(mean_shape, shape)
    return float(np.hypot(a, b))


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


def features(gray: np.ndarray, shape: np.ndarray, mean_shape: np.ndarray, radius: float,
             grid=None) -> np.ndarray:
    """The descriptors, read on `grid` (by default the one for the shape's size)."""
    grid = grid or read_grid(gray, scale_of(mean_shape, shape))
    a, b, _ = similarity(mean_shape, shape)
    step = radius / (HOG_GRID / 2)
    offsets = (np.arange(HOG_GRID + 2) - (HOG_GRID + 1) / 2) * step
    u, v = np.meshgrid(offsets, offsets)  # v varies along rows
    out = []
    for px, py in shape:
        patch = sample_grid(grid, px + a * u - b * v, py + b * u + a * v)
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


def tree_pixels(gray: np.ndarray, shape: np.ndarray, mean_shape: np.ndarray, anchor: np.ndarray,
                offset: np.ndarray, grid=None) -> np.ndarray:
    """A tree level's pixels: each placed from its anchor point by its
    canonical offset, posed like `shape`, sampled bilinearly on `grid` (by
    default the one for the shape's size)."""
    grid = grid or read_grid(gray, scale_of(mean_shape, shape))
    a, b, _ = similarity(mean_shape, shape)
    at = shape[anchor] + offset @ np.array([[a, b], [-b, a]])
    return sample_grid(grid, at[:, 0], at[:, 1])


def tree_leaves(split: np.ndarray, threshold: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """The leaf each tree of a level reaches: split (T, 2^D - 1, 2),
    threshold (T, 2^D - 1), pixels (..., P) -> leaf indices (..., T)."""
    trees, splits = threshold.shape
    node = np.zeros(pixels.shape[:-1] + (trees,), int)
    tree = np.arange(trees)
    while (node < splits).any():
        u, v = split[tree, node, 0], split[tree, node, 1]
        difference = np.take_along_axis(pixels, u, -1) - np.take_along_axis(pixels, v, -1)
        node = 2 * node + np.where(difference > threshold[tree, node], 2, 1)
    return node - splits


def refine(tensors: dict, gray: np.ndarray, shape: np.ndarray) -> tuple[np.ndarray, float]:
    """Runs the cascade from `shape`; returns (points, quality)."""
    mean_shape = tensors["mean_shape"].astype(np.float64)
    shape = shape.astype(np.float64).copy()
    clusters = len(tensors["pose_edges"]) + 1 if "pose_edges" in tensors else 1
    basis_size = tensors["shape_basis"].shape[1]
    stages = tensors["regressor"].reshape(len(tensors["stage_radius"]), clusters, basis_size, -1)
    grid = read_grid(gray, scale_of(mean_shape, shape))  # for the whole fit, by the start's size
    for radius, regressors in zip(tensors["stage_radius"], stages):
        x = np.append(features(gray, shape, mean_shape, float(radius), grid), 1.0)
        regressor = regressors[pose_cluster(tensors, shape)].astype(np.float64)
        delta = (tensors["shape_basis"].astype(np.float64) @ (regressor @ x)).reshape(-1, 2)
        a, b, _ = similarity(mean_shape, shape)
        shape += delta @ np.array([[a, b], [-b, a]])
    quality = float(tensors["quality"].astype(np.float64) @ x)
    for level in range(len(tensors.get("tree_leaf", ()))):
        pixels = tree_pixels(gray, shape, mean_shape, tensors["tree_anchor"][level],
                             tensors["tree_offset"][level].astype(np.float64), grid)
        leaves = tree_leaves(tensors["tree_split"][level], tensors["tree_threshold"][level], pixels)
        moves = np.zeros((68, 2))
        np.add.at(moves, tensors["tree_point"][level], tensors["tree_leaf"][level][np.arange(len(leaves)), leaves])
        basis = tensors["shape_basis"].astype(np.float64)
        delta = (basis @ (basis.T @ moves.ravel())).reshape(-1, 2)
        a, b, _ = similarity(mean_shape, shape)
        shape += delta @ np.array([[a, b], [-b, a]])
    return shape, quality


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


# ---- head pose (csrc/estimate/pose.c) -------------------------------------

POSE_PASSES = 3  # refits with the weights of the estimated yaw
POSE_ITERATIONS = 50  # Levenberg-Marquardt iterations per fit, at most
POSE_STEP_DONE = 1e-8  # a step this small (radians, relative scale and shift) ends a fit
POSE_DAMPING = (1e-3, 1e8)  # initial damping; a fit ends when no step below the second helps


def pose_matrix(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """R = Rz(roll) Ry(yaw) Rx(pitch) (degrees): model points to camera frame
    (x right, y down, z forward); see csrc/include/mojofer.h for the signs."""
    y, p, r = np.deg2rad([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(p), np.sin(p)], [0, -np.sin(p), np.cos(p)]])
    ry = np.array([[np.cos(y), 0, -np.sin(y)], [0, 1, 0], [np.sin(y), 0, np.cos(y)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


def pose_angles(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of R = pose_matrix(yaw, pitch, roll)."""
    yaw = np.arcsin(np.clip(r[2, 0], -1.0, 1.0))
    return tuple(float(np.rad2deg(a)) for a in (yaw, np.arctan2(-r[2, 1], r[2, 2]), np.arctan2(r[1, 0], r[0, 0])))


def pose_weights(tensors: dict, yaw: float) -> np.ndarray:
    """The per-point weights at `yaw`: linear between the rows of the table,
    the end rows beyond it."""
    grid, table = tensors["weight_yaw"].astype(np.float64), tensors["weights"].astype(np.float64)
    if yaw <= grid[0]:
        return table[0]
    if yaw >= grid[-1]:
        return table[-1]
    j = int(np.searchsorted(grid, yaw, side="right")) - 1
    f = (yaw - grid[j]) / (grid[j + 1] - grid[j])
    return (1 - f) * table[j] + f * table[j + 1]


def _rodrigues(v: np.ndarray) -> np.ndarray:
    angle = np.sqrt(v @ v)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    if angle < 1e-12:
        return np.eye(3) + k
    k /= angle
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def pose_project(model: np.ndarray, kappa: float, r: np.ndarray, s: float, t: np.ndarray) -> np.ndarray:
    """Image points of the model at rotation r, scale s, shift t: s * (RX)_xy /
    (1 + kappa (RX)_z) + t, perspective from 1/kappa model units away (kappa
    0: scaled orthographic)."""
    y = model @ r.T
    return s * y[:, :2] / (1 + kappa * y[:, 2:]) + t


def pose_start(model: np.ndarray, w: np.ndarray, x: np.ndarray):
    """(R, s, t) of the scaled orthographic camera nearest the weighted
    least-squares affine map of the model onto the points."""
    mx, mp = w @ model / w.sum(), w @ x / w.sum()
    dm, dx = model - mx, x - mp
    a = (dx.T * w) @ dm @ np.linalg.inv((dm.T * w) @ dm)  # (2, 3)
    n = a @ a.T
    root_det = np.sqrt(np.linalg.det(n))
    trace = np.sqrt(n[0, 0] + n[1, 1] + 2 * root_det)  # = sigma1 + sigma2
    rows = np.linalg.inv((n + root_det * np.eye(2)) / trace) @ a  # polar factor (AA^T)^-1/2 A
    r = np.vstack([rows, np.cross(rows[0], rows[1])])
    s = trace / 2
    return r, s, mp - s * (r @ mx)[:2]


def pose_refine(model, kappa, w, x, r, s, t):
    """Levenberg-Marquardt on rotation (left increments), scale and shift,
    minimising sum_i w_i |pose_project(...)_i - x_i|^2."""
    def cost(r, s, t):
        return float(w @ ((pose_project(model, kappa, r, s, t) - x) ** 2).sum(axis=1))

    c, damping = cost(r, s, t), POSE_DAMPING[0]
    for _ in range(POSE_ITERATIONS):
        y = model @ r.T
        d = 1 + kappa * y[:, 2]
        p = y[:, :2] / d[:, None]
        res = s * p + t - x
        dy = np.zeros((len(model), 3, 3))  # d(RX)/d(increment) = -[RX]x
        dy[:, 0, 1], dy[:, 0, 2] = y[:, 2], -y[:, 1]
        dy[:, 1, 0], dy[:, 1, 2] = -y[:, 2], y[:, 0]
        dy[:, 2, 0], dy[:, 2, 1] = y[:, 1], -y[:, 0]
        jac = np.zeros((len(model), 2, 6))
        jac[:, :, :3] = s * (dy[:, :2] / d[:, None, None] - p[:, :, None] * kappa * dy[:, None, 2] / d[:, None, None])
        jac[:, :, 3] = p
        jac[:, 0, 4] = jac[:, 1, 5] = 1
        h = np.einsum("n,nak,nal->kl", w, jac, jac)
        g = np.einsum("n,nak,na->k", w, jac, res)
        while True:
            step = np.linalg.solve(h + damping * np.diag(np.diag(h)), -g)
            r2, s2, t2 = _rodrigues(step[:3]) @ r, s + step[3], t + step[4:]
            c2 = cost(r2, s2, t2) if s2 > 0 else np.inf
            if c2 < c:
                r, s, t, c = r2, s2, t2, c2
                damping = max(damping / 10, 1e-12)
                break
            damping *= 10
            if damping > POSE_DAMPING[1]:
                return r, s, t
        if max(np.abs(step[:3]).max(), np.abs(step[3:]).max() / s) < POSE_STEP_DONE:
            break
    return r, s, t


def head_pose(tensors: dict, points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees of the 68 image points (68, 2)."""
    model = tensors["points"].astype(np.float64)
    distance = float(tensors["distance"][0])
    kappa = 1 / distance if distance > 0 else 0.0
    x = np.asarray(points, np.float64)
    w = pose_weights(tensors, 0.0)
    r, s, t = pose_refine(model, kappa, w, x, *pose_start(model, w, x))
    for _ in range(POSE_PASSES):
        w = pose_weights(tensors, pose_angles(r)[0])
        r, s, t = pose_refine(model, kappa, w, x, r, s, t)
    return pose_angles(r)

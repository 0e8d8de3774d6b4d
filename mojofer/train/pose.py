"""Build the head-pose model: the Surrey Face Model's mean face at the 68 points, with per-point weights.

Data: ../shared/data/face3d (the Surrey Face Model, eos' share folder). The
68 points of the mean face (mirror-symmetrised, centred) are the rigid model
the C core fits. The weights are measured on synthetic faces
(mojofer.train.face3d: random identity and expression, perspective webcam,
jaw on the visible outline): per yaw on a grid, each point's weight is
1 / (its residual variance about the rigid model at the true pose + the
assumed landmark noise variance), so that points that move with identity,
expression or the outline (jaw, mouth, brows) count less, and the jaw on the
side turned away counts less the more the face turns. A held-out synthetic
set then measures the estimator, printed as a table by |yaw|.
"""
from __future__ import annotations

import time

import numpy as np

from ..landmarks import MIRROR
from ..modelfile import write_model
from . import reference
from .face3d import Face3D, random_poses, synthetic_faces

YAW_GRID = np.arange(-60.0, 61.0, 15.0)
MIRROR_3D = np.array([-1.0, 1.0, 1.0])  # x -> -x in the pose frame
YAW_BINS = ((0, 15), (15, 30), (30, 45), (45, 60))


def mean_points(face: Face3D) -> np.ndarray:
    """The mean face's 68 points, mirror-symmetric and centred (mm, pose frame)."""
    points = face.landmarks(face.mean)
    points = (points + points[MIRROR] * MIRROR_3D) / 2
    return points - points.mean(axis=0)


def residual_variance(points, kappa, faces, noise) -> np.ndarray:
    """Per point, the mean squared distance (model units, per coordinate)
    between each face's points and the rigid model at the face's true pose,
    scaled and shifted onto them by weighted least squares with the weights
    these variances and the `noise` give (two refinements from uniform)."""
    w = np.ones(len(points))
    for _ in range(3):
        squares = []
        for f in faces:
            p = reference.pose_project(points, kappa, reference.pose_matrix(f.yaw, f.pitch, f.roll), 1.0, 0.0)
            pc, xc = p - w @ p / w.sum(), f.points - w @ f.points / w.sum()
            s = (w @ (pc * xc).sum(axis=1)) / (w @ (pc * pc).sum(axis=1))
            squares.append(((xc - s * pc) ** 2).sum(axis=1) / (2 * s * s))
        variance = np.mean(squares, axis=0)
        w = 1 / (variance + noise ** 2)
    return variance


def measure(tensors, faces) -> np.ndarray:
    """(N, 3) estimated minus true (yaw, pitch, roll), degrees."""
    return np.array([np.subtract(reference.head_pose(tensors, f.points), (f.yaw, f.pitch, f.roll)) for f in faces])


def error_table(faces, errors) -> str:
    yaw = np.abs([f.yaw for f in faces])
    lines = ["| abs(yaw) | faces | yaw MAE | pitch MAE | roll MAE |", "|---|---|---|---|---|"]
    for lo, hi in YAW_BINS:
        rows = (yaw >= lo) & (yaw < hi) if hi < YAW_BINS[-1][1] else (yaw >= lo) & (yaw <= hi)
        mae = np.abs(errors[rows]).mean(axis=0)
        lines.append(f"| {lo}-{hi}° | {rows.sum()} | " + " | ".join(f"{m:.2f}°" for m in mae) + " |")
    rows = yaw <= 45
    mae = np.abs(errors[rows]).mean(axis=0)
    lines.append(f"| 0-45° | {rows.sum()} | " + " | ".join(f"{m:.2f}°" for m in mae) + " |")
    return "\n".join(lines)


def add_arguments(parser) -> None:
    parser.add_argument("--data", default="../shared/data/face3d", help="the Surrey Face Model folder")
    parser.add_argument("--out", default="models/pose.mfm")
    parser.add_argument("--faces", type=int, default=300, help="synthetic faces per yaw of the weight table")
    parser.add_argument("--noise", type=float, default=0.02,
                        help="landmark noise the weights allow for, a fraction of the outer-eye-corner distance")
    parser.add_argument("--distance", type=float, default=600.0,
                        help="camera distance the fit assumes, mm (0: scaled orthographic)")
    parser.add_argument("--test-faces", type=int, default=2000, help="held-out synthetic faces for the report")
    parser.add_argument("--test-noise", type=float, default=1.5, help="pixels, on faces 150 px wide")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> int:
    start = time.perf_counter()
    face = Face3D(args.data)
    points = mean_points(face)
    kappa = 1 / args.distance if args.distance > 0 else 0.0
    noise = args.noise * np.linalg.norm(points[36] - points[45])
    rng = np.random.default_rng(args.seed)
    table = []
    for yaw in YAW_GRID:
        poses = random_poses(rng, args.faces)
        poses[:, 0] = yaw + (YAW_GRID[1] - YAW_GRID[0]) * rng.uniform(-0.5, 0.5, args.faces)
        faces = synthetic_faces(face, poses, rng, noise=0.0)
        table.append(1 / (residual_variance(points, kappa, faces, noise) + noise ** 2))
    table = np.array(table)
    table = (table + table[::-1][:, MIRROR]) / 2  # the weights of a mirrored face, mirrored
    table /= table.max()
    tensors = {
        "points": points.astype(np.float32),
        "weights": table.astype(np.float32),
        "weight_yaw": YAW_GRID.astype(np.float32),
        "distance": np.array([args.distance], np.float32),
    }
    print(f"weights from {args.faces} faces at each of {len(YAW_GRID)} yaws "
          f"({time.perf_counter() - start:.0f} s); at yaw 0: "
          + " ".join(f"{w:.2f}" for w in table[len(YAW_GRID) // 2]), flush=True)

    test_rng = np.random.default_rng(args.seed + 1)
    faces = synthetic_faces(face, random_poses(test_rng, args.test_faces), test_rng, noise=args.test_noise)
    errors = measure(tensors, faces)
    print(f"held-out synthetic faces (yaw ±60°, pitch ±40°, roll ±30°, random identity and expression, "
          f"{args.test_noise} px noise at 150 px face width), mean absolute error:\n"
          f"{error_table(faces, errors)}", flush=True)
    write_model(args.out, "head_pose", tensors)
    print(f"{args.out}: {time.perf_counter() - start:.0f} s", flush=True)
    return 0

"""Train the 68-point landmark regressor (supervised descent on HOG features).

Data: ../shared/data/landmarks/train.csv only (val.csv is never read here).
Each face is augmented (mirror with the point permutation, rotation, scale,
shift, brightness/contrast, blur); every augmented picture is run through
mojofer's own face detector and the cascade starts from that box, as it
will in use. Each stage is a ridge regression from the features at the
current shapes to the remaining error, in the canonical frame; its
regularisation is picked on a held-out tenth of the *training* faces.
"""
from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from .. import _core
from ..detect import FaceDetector
from ..landmarks import MIRROR
from ..metrics import nme, tight_box
from ..modelfile import write_model
from . import reference
from ..detect import iou

STAGE_RADIUS = (0.45, 0.32, 0.24, 0.18, 0.14, 0.12, 0.10)
RIDGE_ALPHAS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
QUALITY_CLIP = 0.5
POSE_CLUSTERS = 3
MIN_CLUSTER_ROWS = 2000
HOG = (2, 4, 8)
LOW_RESOLUTION = (0.2, 40, 72)  # share of pictures, face width range (px) they are seen at
OCCLUSION = (0.2, 0.15, 0.4)    # share of pictures, patch side range (face widths)
TREE_RADII = (0.25, 0.08)  # canonical units (outer eye corners 1 apart): the first and last level's
TREE_LAMBDA = 0.1      # canonical units: the reach of the split pairs' prior
TREE_CANDIDATES = 20   # random splits tried per node


def read_faces(csv_path: Path):
    """(image paths, shapes (N, 68, 2)) from a landmarks CSV."""
    paths, shapes = [], []
    with open(csv_path, newline="") as f:
        for row in csv.DictReader(f):
            paths.append(csv_path.parent / row["image"])
            shapes.append([[float(row[f"x{i}"]), float(row[f"y{i}"])] for i in range(68)])
    return paths, np.array(shapes)


def mean_shape_of(shapes: np.ndarray, iterations: int = 10) -> np.ndarray:
    """Generalised Procrustes mean: centred, outer eye corners 1 apart, eyes level."""
    centred = shapes - shapes.mean(axis=1, keepdims=True)
    ref = centred[0]
    for _ in range(iterations):
        aligned = []
        for s in centred:
            z, r = s[:, 0] + 1j * s[:, 1], ref[:, 0] + 1j * ref[:, 1]
            k = np.vdot(z, r) / np.vdot(z, z)  # complex least squares: k*z ~ r
            w = k * z
            aligned.append(np.stack([w.real, w.imag], axis=1))
        ref = np.mean(aligned, axis=0)
        eye = ref[45] - ref[36]
        angle = np.arctan2(eye[1], eye[0])
        rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        ref = (ref - ref.mean(axis=0)) @ rot.T
        ref /= np.linalg.norm(ref[45] - ref[36])
    return ref.astype(np.float32)


def augment(gray: np.ndarray, shape: np.ndarray, rng: np.random.Generator):
    """A randomly transformed copy of a face crop and its points: mirror,
    rotation, scale, shift, blur, low resolution, brightness and contrast,
    an occluding patch."""
    from PIL import Image, ImageFilter

    h, w = gray.shape
    image = Image.fromarray(gray)
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        shape = shape[MIRROR].copy()
        shape[:, 0] = w - 1 - shape[:, 0]
    angle = np.deg2rad(rng.uniform(-30, 30) if rng.random() < 0.7 else rng.uniform(-10, 10))
    scale = rng.uniform(0.85, 1.15)
    centre = np.array([w, h]) / 2 - 0.5
    shift = rng.uniform(-0.06, 0.06, 2) * (w, h)
    # output pixel q comes from input pixel p = M (q - centre - shift) + centre
    m = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) / scale
    offset = centre - m @ (centre + shift)
    # PIL samples pixel centres at +0.5; shift the affine accordingly
    coeffs = (m[0, 0], m[0, 1], offset[0] + 0.5 - 0.5 * (m[0, 0] + m[0, 1]),
              m[1, 0], m[1, 1], offset[1] + 0.5 - 0.5 * (m[1, 0] + m[1, 1]))
    image = image.transform((w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    shape = (shape - offset) @ np.linalg.inv(m).T
    if rng.random() < 0.3:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 1.5)))
    face_width = np.ptp(shape[:, 0])
    if rng.random() < LOW_RESOLUTION[0] and face_width > LOW_RESOLUTION[1]:
        # the face seen at 40-72 px wide, brought back to the crop's size
        factor = rng.uniform(*LOW_RESOLUTION[1:]) / face_width
        small = image.resize((max(2, round(w * factor)), max(2, round(h * factor))), Image.Resampling.BILINEAR)
        image = small.resize((w, h), Image.Resampling.BILINEAR)
    out = np.asarray(image, np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
    if rng.random() < OCCLUSION[0]:
        # a patch of one grey level (hand, microphone, hair) over part of the face
        side = rng.uniform(*OCCLUSION[1:]) * face_width
        cx, cy = shape[rng.integers(0, 68)] + rng.normal(0, 0.1 * face_width, 2)
        x0, y0 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        out[y0:int(cy + side / 2), x0:int(cx + side / 2)] = rng.uniform(0, 255)
    return np.clip(out, 0, 255).astype(np.uint8), shape


def detector_boxes(detector: FaceDetector, images, shapes):
    """Per picture the detector box best overlapping the face (or None).

    Cached under ~/.cache/mojofer by a digest of the pictures, the detector
    model and the compiled core, since detection is the slowest step and
    reruns of the same command see the same pictures."""
    digest = hashlib.sha1(Path(detector.model_file).read_bytes())
    digest.update(Path(_core.__file__).read_bytes())
    for image in images:
        digest.update(image.tobytes())
    cache = Path.home() / ".cache" / "mojofer" / f"train-boxes-{digest.hexdigest()}.npy"
    if cache.is_file():
        return [None if np.isnan(b[0]) else b for b in np.load(cache)]
    boxes = _detect_boxes(detector, images, shapes)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, np.array([b if b is not None else np.full(4, np.nan) for b in boxes]))
    return boxes


def _detect_boxes(detector: FaceDetector, images, shapes):
    boxes = []
    for gray, shape in zip(images, shapes):
        truth = tight_box(shape)
        found = [(iou(truth, b.as_tuple()), b.as_tuple()) for b in detector.detect(gray, min_size=24)]
        best = max(found, default=(0.0, None))
        boxes.append(np.array(best[1]) if best[0] >= 0.4 else None)
    return boxes


def similarity_matrix(mean_shape, shape):
    """(A, centre): shape ~ mean_shape @ A.T + centre, by reference.similarity."""
    a, b, centre = reference.similarity(mean_shape.astype(np.float64), shape.astype(np.float64))
    return np.array([[a, -b], [b, a]]), centre


def tracking_start(truth: np.ndarray, mean_shape: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where tracking starts a face: the mean shape posed like the previous
    frame's points, i.e. the truth moved as a face moves between frames."""
    angle, scale = np.deg2rad(rng.normal(0, 5)), 1 + rng.normal(0, 0.04)
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = truth.mean(axis=0)
    io = np.linalg.norm(truth[36] - truth[45])
    previous = ((truth - centre) @ rot.T + centre + rng.normal(0, 0.05, 2) * io
                + rng.normal(0, 0.02, truth.shape) * io)
    return reference.posed_mean_shape(mean_shape.astype(np.float64), previous)


def pose_clusters(shapes: np.ndarray, mean_shape: np.ndarray, clusters: int = POSE_CLUSTERS):
    """(axis, edges): the canonical-shape direction from faces turned one way
    to faces turned the other (by the nose tip's offset from the jaw's
    middle), and the quantiles of the shapes along it."""
    m = mean_shape.astype(np.float64)
    offsets = np.array([reference.canonical_offset(m, s) for s in shapes])
    canon = offsets.reshape(-1, 68, 2) + m
    turn = canon[:, 30, 0] - (canon[:, 0, 0] + canon[:, 16, 0]) / 2
    low, high = np.quantile(turn, [1 / 3, 2 / 3])
    axis = offsets[turn >= high].mean(axis=0) - offsets[turn <= low].mean(axis=0)
    axis /= np.linalg.norm(axis)
    edges = np.quantile(offsets @ axis, np.arange(1, clusters) / clusters)
    return axis.astype(np.float32), edges.astype(np.float32)


def shape_basis(shapes: np.ndarray, mean_shape: np.ndarray, variance: float = 0.99) -> np.ndarray:
    """Orthonormal (136, K) basis the updates are confined to: the similarity
    motions of the mean shape plus the principal non-rigid variations."""
    m = mean_shape.astype(np.float64)
    rigid = np.stack([np.tile([1.0, 0.0], 68), np.tile([0.0, 1.0], 68), m.ravel(),
                      np.stack([-m[:, 1], m[:, 0]], axis=1).ravel()], axis=1)
    q, _ = np.linalg.qr(rigid)
    residual = np.array([reference.canonical_offset(m, s) for s in shapes])
    residual -= residual @ q @ q.T
    _, sv, vt = np.linalg.svd(residual - residual.mean(axis=0), full_matrices=False)
    keep = int(np.searchsorted(np.cumsum(sv ** 2) / np.sum(sv ** 2), variance)) + 1
    return np.concatenate([q, vt[:keep].T], axis=1)


def features_of(images, shapes, mean_shape, radius):
    out = np.empty((len(shapes), _core.LANDMARK_FEATURES + 1), np.float32)
    out[:, -1] = 1.0
    for i, (gray, shape) in enumerate(zip(images, shapes)):
        out[i, :-1] = _core.landmark_features(gray, shape.astype(np.float32), mean_shape, radius)
    return out


def canonical(mean_shape, shapes, vectors):
    """Image-frame displacements (N, 68, 2) -> canonical frame, per sample."""
    out = np.empty_like(vectors)
    for i, (shape, v) in enumerate(zip(shapes, vectors)):
        a, _ = similarity_matrix(mean_shape, shape)
        out[i] = v @ np.linalg.inv(a).T
    return out


def to_image(mean_shape, shapes, deltas):
    out = np.empty_like(deltas)
    for i, (shape, d) in enumerate(zip(shapes, deltas)):
        a, _ = similarity_matrix(mean_shape, shape)
        out[i] = d @ a.T
    return out


def ridge(x: np.ndarray, y: np.ndarray, held: np.ndarray, score) -> tuple[np.ndarray, float]:
    """Ridge regression y ~ x R^T with the alpha (relative to the mean feature
    energy) that scores best on the `held` rows, refitted on all rows;
    returns (R, alpha, held-out score)."""
    def gram(rows):
        xr = x[rows].astype(np.float64)
        return xr.T @ xr, xr.T @ y[rows]

    def solve(xtx, xty, alpha):
        lam = alpha * np.trace(xtx) / len(xtx)
        return np.linalg.solve(xtx + lam * np.eye(len(xtx)), xty).T

    held_gram, all_gram = gram(held), gram(np.arange(len(x)))
    train_gram = (all_gram[0] - held_gram[0], all_gram[1] - held_gram[1])
    held_rows = np.flatnonzero(held)
    best_score, best = min((score(x[held_rows] @ solve(*train_gram, a).T, held_rows), a) for a in RIDGE_ALPHAS)
    return solve(*all_gram, best).astype(np.float32), best, best_score


def tree_pixel_pool(mean_shape: np.ndarray, per_point: int, radius: float, rng: np.random.Generator):
    """(anchor, offset, at): `per_point` pixel positions around each point of
    the mean shape, uniform in a disc of `radius` canonical units, anchored
    to that point so that they move with it; `at` in mean-shape units."""
    anchor = np.repeat(np.arange(68), per_point)
    angle = rng.uniform(0, 2 * np.pi, len(anchor))
    distance = radius * np.sqrt(rng.uniform(0, 1, len(anchor)))
    offset = np.stack([distance * np.cos(angle), distance * np.sin(angle)], axis=1)
    return anchor.astype(np.int32), offset.astype(np.float32), mean_shape[anchor] + offset


def split_candidates(at: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` pixel pairs (u, v), near pairs preferred: a pair is kept with
    probability exp(-distance / TREE_LAMBDA) (Kazemi & Sullivan's prior)."""
    pairs = np.empty((0, 2), int)
    while len(pairs) < count:
        u, v = rng.integers(0, len(at), (2, 8 * count))
        keep = (u != v) & (rng.random(len(u)) < np.exp(-np.linalg.norm(at[u] - at[v], axis=1) / TREE_LAMBDA))
        pairs = np.concatenate([pairs, np.stack([u[keep], v[keep]], axis=1)])
    return pairs[:count]


def grow_tree(pixels: np.ndarray, residual: np.ndarray, at: np.ndarray, depth: int, shrinkage: float,
              rng: np.random.Generator):
    """One regression tree on pixel differences, grown greedily: at each node
    the best of TREE_CANDIDATES random (pair, threshold) splits by the
    residual's sum of squares explained; leaves hold the shrunk mean residual.
    Returns (split (2^D - 1, 2), threshold (2^D - 1), leaf (2^D, K))."""
    splits = 2 ** depth - 1
    split = np.zeros((splits, 2), np.int32)
    threshold = np.zeros(splits, np.float32)
    node = np.zeros(len(pixels), int)
    for first in (2 ** d - 1 for d in range(depth)):
        order = np.argsort(node, kind="stable")
        bounds = np.searchsorted(node[order], np.arange(first, 2 * first + 2))
        for n in range(first, 2 * first + 1):
            rows = order[bounds[n - first]:bounds[n - first + 1]]
            if len(rows) < 2:
                continue  # u == v == 0, threshold 0: every row goes left
            pair = split_candidates(at, TREE_CANDIDATES, rng)
            difference = pixels[rows[:, None], pair[None, :, 0]] - pixels[rows[:, None], pair[None, :, 1]]
            cut = difference[rng.integers(0, len(rows), TREE_CANDIDATES), np.arange(TREE_CANDIDATES)]
            right = (difference > cut).astype(np.float32)
            r = residual[rows]
            right_sum, total = np.ascontiguousarray(right.T) @ r, r.sum(axis=0)
            right_count = right.sum(axis=0)
            gain = ((right_sum ** 2).sum(axis=1) / np.maximum(right_count, 1)
                    + ((total - right_sum) ** 2).sum(axis=1) / np.maximum(len(rows) - right_count, 1))
            best = int(np.argmax(gain))
            split[n], threshold[n] = pair[best], cut[best]
        u, v = split[node, 0], split[node, 1]
        go_right = pixels[np.arange(len(pixels)), u] - pixels[np.arange(len(pixels)), v] > threshold[node]
        node = 2 * node + np.where(go_right, 2, 1)
    leaf_of = node - splits
    counts = np.bincount(leaf_of, minlength=splits + 1)
    sums = np.stack([np.bincount(leaf_of, residual[:, j], minlength=splits + 1) for j in range(residual.shape[1])], axis=1)
    leaf = (shrinkage * sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
    return split, threshold, leaf


def tree_radius(level: int, levels: int) -> float:
    """The pixels' reach at a level: from TREE_RADII[0] down to TREE_RADII[1]
    canonical units, geometrically, as the shapes close in."""
    first, last = TREE_RADII
    return first * (last / first) ** (level / max(1, levels - 1))


def tree_levels(args, images, current, target, mean_shape, basis, held, rng, start):
    """The tree levels after the linear stages: per level and point a pool
    of pixels around the point and `args.trees` trees fitted by gradient
    boosting to that point's canonical residual on the rows not held out;
    then every row moved by its level's update, the moves projected onto
    the shape basis. Returns (tensors, the final shapes)."""
    m = mean_shape.astype(np.float64)
    fit_rows = np.flatnonzero(~held)
    names = ("tree_anchor", "tree_offset", "tree_point", "tree_split", "tree_threshold", "tree_leaf")
    out = {name: [] for name in names}
    for level in range(args.tree_levels):
        anchor, offset, at = tree_pixel_pool(m, args.tree_pixels, tree_radius(level, args.tree_levels), rng)
        pixels = np.array([reference.tree_pixels(gray, shape, m, anchor, offset.astype(np.float64))
                           for gray, shape in zip(images, current)], np.float32)
        residual = canonical(mean_shape, current, target - current)
        splits, thresholds, leaves = [], [], []
        for point in range(68):
            own = np.flatnonzero(anchor == point)
            point_pixels = pixels[fit_rows][:, own]
            point_residual = residual[fit_rows, point].astype(np.float32)
            for _ in range(args.trees):
                # each tree is grown on a random subset of the rows (stochastic
                # gradient boosting: faster, and less prone to overfit)
                rows = rng.choice(len(fit_rows), min(args.tree_rows, len(fit_rows)), replace=False)
                split, threshold, leaf = grow_tree(point_pixels[rows], point_residual[rows], at[own],
                                                      args.tree_depth, args.shrinkage, rng)
                point_residual -= leaf[reference.tree_leaves(split[None], threshold[None], point_pixels)[:, 0]]
                splits.append(own[split].astype(np.int32)), thresholds.append(threshold), leaves.append(leaf)
        split, threshold, leaf = np.stack(splits), np.stack(thresholds), np.stack(leaves)
        point_of = np.repeat(np.arange(68), args.trees)
        moves = np.empty((len(current), 68, 2))
        for chunk in np.array_split(np.arange(len(current)), max(1, len(current) // 4000)):
            reached = reference.tree_leaves(split, threshold, pixels[chunk])
            moves[chunk] = leaf[np.arange(len(leaf)), reached].reshape(len(chunk), 68, args.trees, 2).sum(axis=2)
        deltas = (moves.reshape(len(current), -1) @ basis @ basis.T).reshape(-1, 68, 2)
        current = current + to_image(mean_shape, current, deltas)
        for name, value in zip(names, (anchor, offset, point_of.astype(np.int32), split, threshold, leaf)):
            out[name].append(value)
        error = nme(current, target)
        print(f"tree level {level}: train NME {error[~held].mean():.4f}, held-out NME {error[held].mean():.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return ({name: np.stack(values) for name, values in out.items()} if args.tree_levels else {}), current


def add_arguments(parser) -> None:
    parser.add_argument("--data", default="../shared/data/landmarks", help="folder with train.csv")
    parser.add_argument("--out", default="models/landmarks.mfm")
    parser.add_argument("--copies", type=int, default=8, help="augmented copies per face (the first is unchanged)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N faces (quick runs)")
    parser.add_argument("--teacher", default="", metavar="EXPRESSIONS",
                        help="also train on dlib's points on these expression images (mojofer.train.teacher)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", type=int, default=len(STAGE_RADIUS),
                        help=f"linear stages, the first of {STAGE_RADIUS} patch radii")
    parser.add_argument("--tree-levels", type=int, default=8, help="tree levels after the linear stages (0: none)")
    parser.add_argument("--trees", type=int, default=6, help="trees per point and level")
    parser.add_argument("--tree-depth", type=int, default=4)
    parser.add_argument("--tree-pixels", type=int, default=16, help="pixels per point and level")
    parser.add_argument("--shrinkage", type=float, default=0.3, help="each tree's leaves are scaled by this")
    parser.add_argument("--tree-rows", type=int, default=8000, help="training rows each tree is grown on")


def run(args) -> int:
    from PIL import Image

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    paths, truths = read_faces(Path(args.data) / "train.csv")
    if args.limit:
        paths, truths = paths[:args.limit], truths[:args.limit]
    grays = [np.asarray(Image.open(path).convert("L")) for path in paths]
    annotated = len(grays)
    if args.teacher:
        from .teacher import teacher_faces  # it crops with tight_box, from here
        taught, taught_shapes, _ = teacher_faces(Path(args.teacher), limit=args.limit)
        grays += taught
        truths = np.concatenate([truths, taught_shapes])
    images, shapes, face_of = [], [], []
    for face, (gray, truth) in enumerate(zip(grays, truths)):
        for copy in range(args.copies):
            image, shape = (gray, truth) if copy == 0 else augment(gray, truth, rng)
            images.append(image)
            shapes.append(shape)
            face_of.append(face)
    shapes, face_of = np.array(shapes), np.array(face_of)
    print(f"{annotated} annotated faces, {len(grays) - annotated} taught, {len(images)} pictures after augmentation "
          f"({time.perf_counter() - start:.0f} s)", flush=True)

    boxes = detector_boxes(FaceDetector(), images, shapes)
    found = np.array([b is not None for b in boxes])
    det = np.array([b for b in boxes if b is not None])
    box_shape = np.mean((shapes[found] - det[:, None, :2]) / det[:, None, 2:], axis=0).astype(np.float32)
    human = truths[:annotated]  # the shape statistics come from the human annotation alone
    mean_shape = mean_shape_of(np.concatenate([human, human[:, MIRROR] * (-1, 1)]))
    basis = shape_basis(shapes, mean_shape)
    print(f"detector found {found.mean():.1%} of the pictures' faces; shape basis of "
          f"{basis.shape[1]} vectors ({time.perf_counter() - start:.0f} s)", flush=True)

    # Two starts per picture, as in use: from the detector's box (where it
    # finds the face; a jittered copy of it too), and near the truth, as the
    # previous frame's points start a tracked face (rotated faces the
    # detector misses are only ever reached that way).
    starts, sample_of = [], []
    for i, (box, truth) in enumerate(zip(boxes, shapes)):
        kinds = ["box", "jitter" if rng.random() < 0.5 else "track"] if box is not None else ["track", "track"]
        for kind in kinds:
            if kind == "box":
                starts.append(box[:2] + box_shape * box[2:])
            elif kind == "jitter":
                moved = box + np.concatenate([rng.normal(0, 0.06, 2) * box[2:], box[2:] * rng.normal(0, 0.06)])
                starts.append(moved[:2] + box_shape * moved[2:])
            else:
                starts.append(tracking_start(truth, mean_shape, rng))
            sample_of.append(i)
    current, sample_of = np.array(starts), np.array(sample_of)
    target = shapes[sample_of]
    sample_images = [images[i] for i in sample_of]
    faces = face_of[sample_of]
    # held out: a tenth of the annotated faces (the measure is against humans)
    held = np.isin(faces, rng.permutation(annotated)[: max(1, annotated // 10)])
    print(f"start NME {nme(current, target).mean():.4f} over {len(current)} samples", flush=True)

    pose_axis, pose_edges = pose_clusters(np.concatenate([human, human[:, MIRROR] * (-1, 1)]), mean_shape)
    tensors = {"mean_shape": mean_shape, "pose_axis": pose_axis, "pose_edges": pose_edges}
    regressors = []
    stage_radius = STAGE_RADIUS[:args.stages]
    for stage, radius in enumerate(stage_radius):
        x = features_of(sample_images, current, mean_shape, radius)
        y = canonical(mean_shape, current, target - current).reshape(len(current), -1) @ basis
        cluster = np.array([reference.pose_cluster(tensors, shape) for shape in current])

        def moved(coefficients, rows, current=current):
            deltas = (coefficients @ basis.T).reshape(-1, 68, 2)
            return current[rows] + to_image(mean_shape, current[rows], deltas)

        def stage_nme(rows):
            return lambda pred, sub: nme(moved(pred, rows[sub]), target[rows[sub]]).mean()

        everyone = np.arange(len(current))
        pooled, alpha, score = ridge(x, y, held, stage_nme(everyone))
        stage_regressors, update = [], x @ pooled.T
        report = [f"pooled: alpha {alpha:g}, held-out NME {score:.4f}"]
        for c in range(len(pose_edges) + 1):
            rows = np.flatnonzero(cluster == c)
            # a cluster the shapes have not reached yet (at the first stage
            # every start is the mean shape) keeps the pooled regressor
            if len(rows) < MIN_CLUSTER_ROWS or not held[rows].any():
                stage_regressors.append(pooled)
                continue
            r, alpha, score = ridge(x[rows], y[rows], held[rows], stage_nme(rows))
            stage_regressors.append(r)
            update[rows] = x[rows] @ r.T
            report.append(f"cluster {c}: {len(rows)} rows, alpha {alpha:g}, held-out NME {score:.4f}")
        regressors.append(np.stack(stage_regressors))
        last_x, last_shapes = x, current
        current = moved(update, np.arange(len(current)))
        print(f"stage {stage}: radius {radius}; {'; '.join(report)}; "
              f"train NME {nme(current, target).mean():.4f} ({time.perf_counter() - start:.0f} s)", flush=True)

    # quality: predict the error of a fit from the features the last stage
    # reads (so it costs no extra extraction); besides the fits, show it
    # shapes that are off by a lot
    off = current.copy()
    for i in range(len(off)):
        io = np.linalg.norm(target[i, 36] - target[i, 45])
        angle, scale = np.deg2rad(rng.uniform(-40, 40)), rng.uniform(0.6, 1.5)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = off[i].mean(axis=0)
        off[i] = (off[i] - centre) @ rot.T + centre + rng.uniform(-1.5, 1.5, 2) * io
    shapes_q = np.concatenate([last_shapes, off])
    rows_q = np.concatenate([np.arange(len(current))] * 2)
    x = np.concatenate([last_x, features_of(sample_images, off, mean_shape, stage_radius[-1])])
    y = np.minimum(nme(shapes_q, target[rows_q]), QUALITY_CLIP)[:, None]
    held_q = held[rows_q]
    quality, alpha, _ = ridge(x, y, held_q, lambda pred, rows: np.abs(pred[:, 0] - y[rows, 0]).mean())
    predicted = x @ quality[0]
    print(f"quality: alpha {alpha:g}, mean abs error {np.abs(predicted - y[:, 0]).mean():.4f}", flush=True)

    trees, current = tree_levels(args, sample_images, current, target, mean_shape, basis, held, rng, start)
    tensors = {
        "mean_shape": mean_shape,
        "box_shape": box_shape,
        "stage_radius": np.array(stage_radius, np.float32),
        "shape_basis": basis.astype(np.float32),
        "pose_axis": pose_axis,
        "pose_edges": pose_edges,
        "regressor": np.stack(regressors).astype(np.float32),
        "quality": quality[0].astype(np.float32),
        "hog": np.array(HOG, np.int32),
    }
    tensors.update(trees)
    write_model(args.out, "landmarks", tensors)
    error = nme(current, target)
    print(f"{args.out}: {len(stage_radius)} stages, {args.tree_levels} tree levels; NME train "
          f"{error[~held].mean():.4f}, held-out {error[held].mean():.4f}, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return 0

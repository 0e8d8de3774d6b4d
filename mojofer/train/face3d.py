"""The Surrey Face Model (eos' share folder, ../shared/data/face3d): reader,
the 68 iBUG points on it, and synthetic faces for training and testing the
head-pose estimator.

Files, as eos (patrikhuber/eos, Apache-2.0) writes them with cereal's binary
archive (little-endian; a size_t length is a u64; an Eigen matrix is i32 rows,
i32 cols, then rows*cols float32 in column-major order; a std::string is a u64
length and its bytes):

  sfm_shape_3448.bin            MorphableModel: u32 class version (1), then the
                                shape PcaModel, the colour PcaModel (empty here)
                                and u64 n + n (u, v) float64 texture coordinates.
                                A PcaModel is: mean [3V x 1] (x0 y0 z0 x1 ...),
                                orthonormal basis [3V x K], eigenvalues [K x 1]
                                (variances), u64 T + T triangles of 3 int32.
  expression_blendshapes_3448.bin
                                u64 count, then per blendshape a name string and
                                a deformation [3V x 1] added to a shape times
                                its weight.
  ibug_to_sfm.txt               TOML: 1-based iBUG number = vertex id.
  sfm_model_contours.json       the outline vertices of a frontal face, right
                                and left side, each from the temple to the chin.

The model's own frame is x to the subject's left, y up, z towards the viewer
(millimetres). Everything here is in the pose frame instead: x to the
subject's left (image right for a frontal face), y down, z away from the
camera, i.e. the model's frame turned 180 degrees about x.
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .reference import pose_matrix

FRAME = np.diag([1.0, -1.0, -1.0])  # model frame -> pose frame
CHIN = 8
JAW = 17
# iBUG points the mapping file leaves out besides the jaw: the inner mouth
# corners, placed this fraction of the way from the outer corner (48, 54) to
# the middle of the inner-lip points beside them (61 and 67, 63 and 65) - a
# fifth, as in the mean of the 300-W annotations.
INNER_MOUTH = {60: (48, 61, 67), 64: (54, 63, 65)}
INNER_MOUTH_FRACTION = 0.2
# The first jaw point lies at the height of the outer eye corners (iBUG
# convention).
EYE_CORNERS = (36, 45)


class FormatError(ValueError):
    """A face3d file is not laid out as expected."""


class _Reader:
    def __init__(self, data: bytes, name: str):
        self.data, self.at, self.name = data, 0, name

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise FormatError(f"{self.name}: truncated at byte {self.at}")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values

    def matrix(self) -> np.ndarray:
        rows, cols = self.take("<2i")
        if rows < 0 or cols < 0 or self.at + 4 * rows * cols > len(self.data):
            raise FormatError(f"{self.name}: bad matrix of {rows} x {cols} at byte {self.at - 8}")
        values = np.frombuffer(self.data, "<f4", rows * cols, self.at)
        self.at += 4 * rows * cols
        return values.reshape(cols, rows).T.astype(np.float64)  # column-major

    def string(self) -> str:
        (length,) = self.take("<Q")
        if self.at + length > len(self.data):
            raise FormatError(f"{self.name}: bad string length {length}")
        text = self.data[self.at:self.at + length].decode("utf-8")
        self.at += length
        return text

    def end(self) -> None:
        if self.at != len(self.data):
            raise FormatError(f"{self.name}: {len(self.data) - self.at} bytes left over")


@dataclass(frozen=True)
class ShapeModel:
    """A PCA shape model: vertex = mean + basis @ (sqrt(eigenvalues) * coefficients)."""

    mean: np.ndarray  # (V, 3), model frame
    basis: np.ndarray  # (V, 3, K), orthonormal columns
    eigenvalues: np.ndarray  # (K,) variances
    triangles: np.ndarray  # (T, 3) vertex ids


def _pca_model(r: _Reader):
    mean, basis, eigenvalues = r.matrix(), r.matrix(), r.matrix()
    (count,) = r.take("<Q")
    triangles = np.array(r.take(f"<{3 * count}i"), np.int64).reshape(count, 3)
    return mean, basis, eigenvalues, triangles


def read_shape_model(path: str | Path) -> ShapeModel:
    r = _Reader(Path(path).read_bytes(), Path(path).name)
    (version,) = r.take("<I")
    if version != 1:
        raise FormatError(f"{r.name}: MorphableModel version {version}, expected 1")
    mean, basis, eigenvalues, triangles = _pca_model(r)
    _pca_model(r)  # the colour model: empty in the shape-only model
    (count,) = r.take("<Q")
    r.take(f"<{2 * count}d")  # texture coordinates
    r.end()
    vertices = mean.shape[0] // 3
    if mean.shape != (3 * vertices, 1) or basis.shape[0] != 3 * vertices or \
            eigenvalues.shape != (basis.shape[1], 1) or triangles.size == 0 or \
            triangles.min() < 0 or triangles.max() >= vertices:
        raise FormatError(f"{r.name}: inconsistent shapes {mean.shape}, {basis.shape}, "
                          f"{eigenvalues.shape}, triangles {triangles.shape}")
    return ShapeModel(mean.reshape(vertices, 3), basis.reshape(vertices, 3, -1), eigenvalues[:, 0],
                      triangles)


def read_blendshapes(path: str | Path) -> dict[str, np.ndarray]:
    """{name: deformation (V, 3) in the model frame}, in file order."""
    r = _Reader(Path(path).read_bytes(), Path(path).name)
    (count,) = r.take("<Q")
    shapes = {}
    for _ in range(count):
        name = r.string()
        deformation = r.matrix()
        if deformation.shape[1] != 1 or deformation.shape[0] % 3:
            raise FormatError(f"{r.name}: blendshape {name!r} has shape {deformation.shape}")
        shapes[name] = deformation.reshape(-1, 3)
    r.end()
    return shapes


def read_landmark_mapping(path: str | Path) -> dict[int, int]:
    """{0-based iBUG index: vertex id} from the [landmark_mappings] table."""
    mapping, section = {}, None
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "landmark_mappings" and line:
            match = re.fullmatch(r"(\d+)\s*=\s*(\d+)", line)
            if not match:
                raise FormatError(f"{Path(path).name}: cannot read {line!r}")
            mapping[int(match[1]) - 1] = int(match[2])
    return mapping


def read_contours(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(right, left) outline vertex ids of a frontal face, temple to chin."""
    contour = json.loads(Path(path).read_text())["model_contour"]
    return np.array(contour["right_contour"]), np.array(contour["left_contour"])


def _jaw_on_outline(vertices: np.ndarray, outline: np.ndarray, chin: int, top_y: float) -> np.ndarray:
    """Eight 3D jaw points on one side: from where the outline (temple to
    chin, then the chin vertex) crosses the height top_y, equally spaced by
    arc length in the frontal view, as iBUG annotators space them; the ninth
    would be the chin. Points between outline vertices interpolate linearly."""
    path = vertices[np.append(outline, chin)]
    below = np.flatnonzero(path[:, 1] >= top_y)  # y down
    first = below[0]
    if first == 0:
        start = path[0]
    else:
        t = (top_y - path[first - 1, 1]) / (path[first, 1] - path[first - 1, 1])
        start = path[first - 1] + t * (path[first] - path[first - 1])
    path = np.vstack([start, path[first:]])
    length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1))])
    at = np.linspace(0.0, length[-1], CHIN + 1)[:-1]
    return np.stack([np.interp(at, length, path[:, k]) for k in range(3)], axis=1)


class Face3D:
    """The Surrey Face Model in the pose frame, with its 68 iBUG points."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        model = read_shape_model(folder / "sfm_shape_3448.bin")
        self.mean = model.mean @ FRAME
        self.basis = np.einsum("vck,dc->vdk", model.basis, FRAME)
        self.std = np.sqrt(np.maximum(model.eigenvalues, 0.0))
        self.triangles = model.triangles
        blendshapes = read_blendshapes(folder / "expression_blendshapes_3448.bin")
        self.expressions = list(blendshapes)
        self.blendshapes = np.stack([b @ FRAME for b in blendshapes.values()])
        if self.blendshapes.shape[1] != len(self.mean):
            raise FormatError("blendshapes and shape model differ in vertex count")
        self.mapping = read_landmark_mapping(folder / "ibug_to_sfm.txt")
        self.right_outline, self.left_outline = read_contours(folder / "sfm_model_contours.json")
        edges = np.concatenate([self.triangles[:, [0, 1]], self.triangles[:, [1, 2]],
                                self.triangles[:, [2, 0]]])
        self.edges = np.unique(np.sort(edges, axis=1), axis=0)

    def vertices(self, identity=None, expression=None) -> np.ndarray:
        """(V, 3) vertices for standard-normal identity coefficients (None:
        the mean) and blendshape weights (None: neutral)."""
        v = self.mean.copy()
        if identity is not None:
            identity = np.asarray(identity, np.float64)
            v += self.basis[:, :, :len(identity)] @ (self.std[:len(identity)] * identity)
        if expression is not None:
            v += np.tensordot(np.asarray(expression, np.float64), self.blendshapes, axes=1)
        return v

    def landmarks(self, vertices: np.ndarray) -> np.ndarray:
        """The 68 iBUG points (68, 3) of a face: the mapped vertices, the jaw
        on the frontal outline (see _jaw_on_outline) and the inner mouth
        corners between their neighbours (INNER_MOUTH)."""
        points = np.full((68, 3), np.nan)
        for index, vertex in self.mapping.items():
            points[index] = vertices[vertex]
        top_y = points[list(EYE_CORNERS), 1].mean()
        chin = self.mapping[CHIN]
        points[:CHIN] = _jaw_on_outline(vertices, self.right_outline, chin, top_y)
        points[JAW - 1:CHIN:-1] = _jaw_on_outline(vertices, self.left_outline, chin, top_y)
        for index, (outer, upper, lower) in INNER_MOUTH.items():
            middle = (points[upper] + points[lower]) / 2
            points[index] = points[outer] + INNER_MOUTH_FRACTION * (middle - points[outer])
        if np.isnan(points).any():
            raise FormatError(f"no 3D position for iBUG points {np.flatnonzero(np.isnan(points[:, 0]))}")
        return points


@dataclass(frozen=True)
class Camera:
    """A webcam: focal length in pixels, and the face's distance set so that
    its frontal width (jaw points 0 to 16) is `face_width` pixels. The face's
    centre lies on the optical axis, the principal point at the image origin."""

    focal: float = 640.0
    face_width: float = 150.0


def _outline_crossings(image: np.ndarray, edges: np.ndarray, y: float) -> np.ndarray:
    """x of every mesh edge's crossing of image row y."""
    a, b = image[edges[:, 0]], image[edges[:, 1]]
    crossing = (a[:, 1] - y) * (b[:, 1] - y) <= 0
    a, b = a[crossing], b[crossing]
    dy = b[:, 1] - a[:, 1]
    t = np.where(np.abs(dy) > 1e-12, (y - a[:, 1]) / np.where(np.abs(dy) > 1e-12, dy, 1.0), 0.5)
    return a[:, 0] + t * (b[:, 0] - a[:, 0])


def project_face(face: Face3D, vertices: np.ndarray, yaw: float, pitch: float, roll: float,
                 camera: Camera = Camera(), outline: bool = True) -> np.ndarray:
    """The 68 image points (68, 2) of a face posed at (yaw, pitch, roll) in
    front of `camera`, by perspective projection.

    The jaw follows the face's visible outline as an annotator marks it: a
    jaw point on the side turned away (the subject's left for yaw > 0) moves
    along its image row to the outermost point of the projected mesh there,
    since the cheek hides the jaw line behind it; the near side's jaw line
    is in view and keeps its 3D points. The rows are those of the face
    before roll (roll turns the whole picture about the principal point).
    outline=False projects the jaw's 3D points instead."""
    points = face.landmarks(vertices)
    centre = points.mean(axis=0)
    width = np.linalg.norm(points[0] - points[JAW - 1])
    depth = (points[0, 2] + points[JAW - 1, 2]) / 2 - centre[2]
    distance = camera.focal * width / camera.face_width - depth
    turn = pose_matrix(yaw, pitch, 0.0)

    def image(p):
        cam = (p - centre) @ turn.T + (0.0, 0.0, distance)
        return camera.focal * cam[:, :2] / cam[:, 2:]

    flat = image(points)
    mesh = image(vertices)
    far = () if not outline else range(CHIN + 1, JAW) if yaw > 0 else range(CHIN) if yaw < 0 else ()
    side = 1.0 if yaw > 0 else -1.0
    for i in far:
        xs = _outline_crossings(mesh, face.edges, flat[i, 1])
        if len(xs):
            flat[i, 0] = side * max(side * flat[i, 0], (side * xs).max())
    r = np.deg2rad(roll)
    return flat @ np.array([[np.cos(r), np.sin(r)], [-np.sin(r), np.cos(r)]])


def random_identity(face: Face3D, rng: np.random.Generator) -> np.ndarray:
    """Standard-normal coefficients for every identity component."""
    return rng.standard_normal(len(face.std))


def random_expression(face: Face3D, rng: np.random.Generator) -> np.ndarray:
    """Blendshape weights: one expression at a weight uniform in [0, 1], the
    others each uniform in [0, 0.25] (mixed, mostly mild expressions)."""
    weights = rng.uniform(0.0, 0.25, len(face.expressions))
    weights[rng.integers(len(weights))] = rng.uniform(0.0, 1.0)
    return weights


@dataclass(frozen=True)
class SyntheticFace:
    points: np.ndarray  # (68, 2) image pixels, noise added
    yaw: float
    pitch: float
    roll: float


def synthetic_faces(face: Face3D, poses, rng: np.random.Generator, noise: float = 1.5,
                    camera: Camera = Camera(), expression: bool = True) -> list[SyntheticFace]:
    """A random person (identity and, if `expression`, blendshape weights)
    per (yaw, pitch, roll) in `poses`, projected by `camera`, with Gaussian
    noise of `noise` pixels on each coordinate."""
    out = []
    for yaw, pitch, roll in poses:
        weights = random_expression(face, rng) if expression else None
        vertices = face.vertices(random_identity(face, rng), weights)
        points = project_face(face, vertices, yaw, pitch, roll, camera)
        points = points + rng.normal(0.0, noise, points.shape)
        out.append(SyntheticFace(points, float(yaw), float(pitch), float(roll)))
    return out


def random_poses(rng: np.random.Generator, count: int, yaw: float = 60.0, pitch: float = 40.0,
                 roll: float = 30.0) -> np.ndarray:
    """(count, 3) poses uniform in [-yaw, yaw] x [-pitch, pitch] x [-roll, roll]."""
    return rng.uniform(-1.0, 1.0, (count, 3)) * (yaw, pitch, roll)

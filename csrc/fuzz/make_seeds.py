"""Writes the fuzz harnesses' seed corpora (csrc/fuzz/seeds/*): small and
deterministic. Wire messages encoded by mojofer.wire, plus one packed here
with the landmarks as an array of numbers (the protocol's other form); tiny
valid models of each kind written by mojofer.modelfile (values from the
bundled models where a consumer checks them, sizes cut down); image views
in the layout csrc/fuzz/fuzz_image.c reads. Run from the repository root
with the extension built; the seeds are committed."""
import struct
from pathlib import Path

import numpy as np

from mojofer import CueEvent, Estimator, wire
from mojofer.modelfile import encode_model, read_model

SEEDS = Path("csrc/fuzz/seeds")


def pack(value) -> bytes:
    """The few msgpack forms a frame needs (fixmap, fixstr, uint, float64, array)."""
    if isinstance(value, dict):
        return bytes([0x80 | len(value)]) + b"".join(pack(k) + pack(v) for k, v in value.items())
    if isinstance(value, str):
        return bytes([0xA0 | len(value)]) + value.encode()
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, int):
        return b"\xcf" + struct.pack(">Q", value)
    return b"\xdc" + struct.pack(">H", len(value)) + b"".join(pack(v) for v in value)


def face(scale=40.0, dx=0.0):
    t = 2 * np.pi * np.arange(68) / 68
    return np.stack([100 + dx + scale * np.cos(t), 120 + 1.2 * scale * np.sin(t)], 1).astype(np.float32)


def wire_seeds():
    est = Estimator()
    estimates, events = est.update(0.0, [(1, face(), None), (2, face(dx=150), (10.0, -5.0, 2.0))])
    estimates2, events2 = est.update(9.0, [])
    return {
        "frame.bin": wire.encode_frame(7, 0.25, [(1, face(), None), (2, face(dx=150), (10.0, -5.0, 2.0))]),
        "frame_empty.bin": wire.encode_frame(0, 0.0, []),
        "frame_array.bin": pack({"t": "frame", "seq": 3, "ts": 1.5,
                                 "faces": [{"id": 4, "lm": [float(v) for v in face().ravel()],
                                            "pose": [1.0, 2.0, 3.0]}]}),
        "estimate.bin": wire.encode_estimate(7, 0.25, estimates, events),
        "estimate_lost.bin": wire.encode_estimate(8, 9.0, estimates2, events2 + [
            CueEvent(9.0, "face", "lost", "retired", 1)]),
        "error.bin": wire.encode_error(7, 4012, "landmarks refused"),
        "error_noseq.bin": wire.encode_error(None, 4007, "not one msgpack map"),
    }


def model_seeds():
    rng = np.random.default_rng(10)
    _, lm = read_model("models/landmarks.mfm")
    _, pose = read_model("models/pose.mfm")
    _, ex = read_model("models/expressions.mfm")
    f32 = lambda a: np.asarray(a, np.float32)
    row = lm["quality"].size
    detector = {
        "window": np.array([8, 8], np.int32),
        "stage_threshold": f32([1.5]),  # both stumps must agree: few windows pass
        "stage_weak": np.array([0, 2], np.int32),
        "stump_feature": np.array([0, 1], np.int32),
        "stump_threshold": f32([0.1, -0.1]),
        "stump_leaf": f32([[-1, 1], [1, -1]]),
        "rect": f32([[[0, 0, 4, 8, 1], [4, 0, 4, 8, -1], [0, 0, 0, 0, 0]],
                     [[0, 0, 8, 4, 1], [0, 4, 8, 4, -1], [1, 1, 2, 2, 2]]]),  # integer weights
        "box_calibration": f32([0.05, 0.1, 0.9, 0.9]),
    }
    landmarks = {
        "mean_shape": lm["mean_shape"], "box_shape": lm["box_shape"], "stage_radius": f32([0.3]),
        "shape_basis": np.ascontiguousarray(lm["shape_basis"][:, :2]),
        "regressor": f32(rng.normal(0, 0.01, (1, 2, row))),
        "quality": f32(rng.normal(0, 0.01, row)), "hog": lm["hog"],
    }
    clustered = dict(landmarks, pose_axis=lm["pose_axis"], pose_edges=f32([0.0]),
                     regressor=f32(rng.normal(0, 0.01, (1, 2, 2, row))))
    trees, pixels = 4, 8  # one level of 4 trees of depth 2 on 8 pixels
    with_trees = dict(landmarks, tree_anchor=rng.integers(0, 68, (1, pixels)).astype(np.int32),
                      tree_offset=f32(rng.normal(0, 0.1, (1, pixels, 2))),
                      tree_point=rng.integers(0, 68, (1, trees)).astype(np.int32),
                      tree_split=rng.integers(0, pixels, (1, trees, 3, 2)).astype(np.int32),
                      tree_threshold=f32(rng.normal(0, 10, (1, trees, 3))),
                      tree_leaf=f32(rng.normal(0, 0.02, (1, trees, 4, 2))))
    head_pose = {"points": pose["points"], "weights": pose["weights"][[0, -1]],
                 "weight_yaw": pose["weight_yaw"][[0, -1]], "distance": pose["distance"]}
    features = ex["feature_mean"].size
    expressions = {
        "reference": ex["reference"], "neutral_shape": ex["neutral_shape"],
        "feature_mean": ex["feature_mean"], "feature_std": ex["feature_std"],
        "layer0.weight": f32(rng.normal(0, 0.1, (4, features))), "layer0.bias": f32(np.zeros(4)),
        "layer1.weight": f32(rng.normal(0, 0.1, (7, 4))), "layer1.bias": f32(np.zeros(7)),
    }
    return {"face_detector.mfm": encode_model("face_detector", detector),
            "landmarks.mfm": encode_model("landmarks", landmarks),
            "landmarks_clusters.mfm": encode_model("landmarks", clustered),
            "landmarks_trees.mfm": encode_model("landmarks", with_trees),
            "head_pose.mfm": encode_model("head_pose", head_pose),
            "expressions.mfm": encode_model("expressions", expressions)}


def view(order, width, height, row_stride, pixel_stride, channel_stride, base, buffer):
    """fuzz_image.c's layout: order, width, height (u8), the three strides
    (i16), the offset of pixel (0, 0) in the buffer (u16), then the buffer."""
    return struct.pack("<BBBhhhH", order, width, height, row_stride, pixel_stride, channel_stride,
                       base) + buffer


def image_seeds():
    texture = bytes((x * 7 + (x // 29) * 13) & 0xFF for x in range(32 * 32 * 4))
    return {
        "gray.bin": view(1, 32, 32, 32, 1, 1, 0, texture[:32 * 32]),
        "rgb.bin": view(2, 24, 20, 72, 3, 1, 0, texture[:24 * 20 * 3]),
        "bgra_flipped.bin": view(5, 16, 16, -64, 4, 1, 15 * 64, texture[:16 * 16 * 4]),
        "bgr_reversed.bin": view(3, 16, 12, 48, 3, -1, 2, texture[:16 * 12 * 3]),
        "gray_columns.bin": view(1, 12, 30, 1, 30, 1, 0, texture[:12 * 30]),
    }


def main():
    for folder, seeds in (("wire", wire_seeds()), ("model", model_seeds()), ("image", image_seeds())):
        (SEEDS / folder).mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (SEEDS / folder / name).write_bytes(data)


if __name__ == "__main__":
    main()

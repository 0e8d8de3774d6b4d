"""The page's msgpack codec and protocol messages (web/msgpack.js, web/wire.js)
run in Node against mojofer.wire, the C codec the server runs: frames
encoded in JavaScript are byte for byte what mojofer.wire.encode_frame
writes and decode in Python; the server's estimates and errors, encoded in
Python, decode in JavaScript to the same values; docs/protocol.md's
examples too; and the generic codec agrees with the msgpack package both
ways and refuses what is not one whole msgpack value."""
import json
import math
import shutil
import subprocess
from pathlib import Path

import msgpack
import numpy as np
import pytest

import mojofer
from mojofer import wire
from mojofer.cues import CueEvent
from mojofer.wire import ErrorCode

from test_wire import doc_hex_blocks, doc_messages

NODE = shutil.which("node")
DRIVER = Path(__file__).resolve().parent / "web_codec.js"

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) not found: the page's codec runs in it")


def run_js(*jobs):
    """The results of the jobs (see tests/web_codec.js), in order."""
    done = subprocess.run([NODE, str(DRIVER)], input=json.dumps(jobs), capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)


def ok(result):
    assert "ok" in result, result.get("error")
    return result["ok"]


def from_json(v):
    """A value from the driver's tagged JSON."""
    if isinstance(v, list):
        return [from_json(x) for x in v]
    if isinstance(v, dict):
        if "$bin" in v:
            return bytes.fromhex(v["$bin"])
        if "$int" in v:
            return int(v["$int"])
        if "$float" in v:
            return float(v["$float"])
        return {k: from_json(x) for k, x in v.items()}
    return v


def landmarks(seed):
    return (np.random.default_rng(seed).random((68, 2)) * 640 - 20).astype(np.float32)


def js_face(face_id, points, pose=None):
    face = {"id": face_id, "landmarks": points.ravel().tolist()}
    if pose is not None:
        face["pose"] = dict(zip(("yaw", "pitch", "roll"), pose))
    return face


FRAMES = [  # (seq, timestamp, [(id, landmarks, pose)])
    (17, 0.5, [(0, np.array([[200 + 4 * (i % 17), 150 + 3 * (i // 17)] for i in range(68)], np.float32), None)]),
    (1, 1.0, [(3, landmarks(1), None), (-4, landmarks(2), None), (2**31 - 1, landmarks(3), None)]),
    (2**40 + 5, 1234567.0625, [(200, landmarks(4), (10.0, -5.0, 2.5))]),
    (2**53 - 1, -3.25, []),
    (0, 0.0, [(-(2**31), landmarks(5), (-180.0, 0.1, 179.9))]),
]


@pytest.mark.parametrize("seq, timestamp, faces", FRAMES)
def test_frames_encode_as_mojofer_wire_does(seq, timestamp, faces):
    (result,) = run_js({"op": "encodeFrame", "seq": seq, "timestamp": timestamp,
                        "faces": [js_face(i, lm, p) for i, lm, p in faces]})
    data = bytes.fromhex(ok(result))
    assert data == wire.encode_frame(seq, timestamp, [(i, lm, None if p is None else mojofer.Pose(*p))
                                                      for i, lm, p in faces])
    m = wire.decode(data)
    assert isinstance(m, wire.Frame) and (m.seq, m.timestamp) == (seq, timestamp)
    assert [f[0] for f in m.faces] == [f[0] for f in faces]
    for (_, got, pose), (_, want, want_pose) in zip(m.faces, faces):
        np.testing.assert_array_equal(got, want)
        assert pose == (None if want_pose is None else mojofer.Pose(*np.float32(want_pose).tolist()))


def test_doc_frame_example():
    lm = FRAMES[0][2][0][1]
    (result,) = run_js({"op": "encodeFrame", "seq": 17, "timestamp": 0.5, "faces": [js_face(0, lm)]})
    assert bytes.fromhex(ok(result)) == doc_hex_blocks()["frame"] == doc_messages()["frame"]


@pytest.mark.parametrize("seq, faces, why", [
    (-1, [], "seq must be an integer >= 0"),
    (1.5, [], "seq must be an integer >= 0"),
    (1, [{"id": 0, "landmarks": [0.0] * 135}], "face 0: landmarks must be 136 numbers"),
    (1, [{"id": 2**31, "landmarks": [0.0] * 136}], "face 0: id must be a 32-bit integer"),
])
def test_bad_frames_are_refused_in_js(seq, faces, why):
    (result,) = run_js({"op": "encodeFrame", "seq": seq, "timestamp": 0.0, "faces": faces})
    assert result["error"].startswith("TypeError: " + why), result


def estimates_and_events(astronaut):
    """Real estimates: two faces, one of them then lost, with its events."""
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    est = mojofer.Estimator(grace=1.0)
    first, first_events = est.update(0.0, [(1, points, None), (2, points + 300, None)])
    later, later_events = est.update(1.5, [(2, points + 300, None)])
    return [(first, first_events), (later, later_events)]


def test_estimates_decode_in_js(astronaut):
    messages = estimates_and_events(astronaut)
    jobs = [{"op": "decodeMessage", "hex": wire.encode_estimate(7 + n, 1.5 * n, e, ev).hex()}
            for n, (e, ev) in enumerate(messages)]
    for n, (result, (estimates, events)) in enumerate(zip(run_js(*jobs), messages)):
        got = ok(result)
        assert (got["type"], got["seq"], got["timestamp"]) == ("estimate", 7 + n, 1.5 * n)
        assert len(got["faces"]) == len(estimates) and any(f["visible"] for f in got["faces"])
        for face, want in zip(got["faces"], estimates):
            f32 = lambda x: float(np.float32(x))  # noqa: E731 - floats travel as float32
            assert (face["id"], face["visible"], face["engagement"], face["status"]) == \
                (want.id, want.visible, want.engagement, want.status)
            assert face["pose"] == {k: f32(v) for k, v in zip(("yaw", "pitch", "roll"), want.pose.as_tuple())}
            assert face["emotions"] == {k: f32(v) for k, v in want.emotions.items()}
            assert face["social"] == {"amusement": f32(want.amusement), "surprise": f32(want.surprise),
                                      "confusion": f32(want.confusion)}
            assert face["actionUnits"] == {k: f32(v) for k, v in want.action_units.items()}
            assert face["attention"] == f32(want.attention)
        assert [CueEvent(e["timestamp"], e["kind"], e["from"], e["to"], e["id"]) for e in got["events"]] == events
    assert any(not f["visible"] for f in ok(run_js(jobs[1])[0])["faces"])


def test_doc_examples_decode_in_js():
    blocks = doc_hex_blocks()
    estimate, error = (ok(r) for r in run_js({"op": "decodeMessage", "hex": blocks["estimate"].hex()},
                                             {"op": "decodeMessage", "hex": blocks["error"].hex()}))
    (face,) = estimate["faces"]
    assert face["pose"] == {"yaw": 4.5, "pitch": -2.0, "roll": 1.25}
    assert face["emotions"]["happiness"] == 0.375 and face["social"]["amusement"] == 0.375
    assert (face["attention"], face["engagement"], face["status"]) == (1.0, "engaging", "possible")
    assert estimate["events"][2] == {"timestamp": 0.5, "id": 0, "kind": "status", "from": "idle", "to": "possible"}
    assert error == {"type": "error", "seq": 18, "code": 4012, "reason": "faces refused: landmarks not finite"}


def test_errors_decode_in_js():
    reason = "é" * 200  # cut at 256 bytes, on a character
    messages = [wire.encode_error(None, ErrorCode.MALFORMED, "not one msgpack map"),
                wire.encode_error(2**64 - 1, 4003, "frame rate exceeded"),
                wire.encode_error(3, ErrorCode.INVALID, reason)]
    got = [ok(r) for r in run_js(*({"op": "decodeMessage", "hex": m.hex()} for m in messages))]
    assert got[0] == {"type": "error", "seq": None, "code": 4007, "reason": "not one msgpack map"}
    assert from_json(got[1]["seq"]) == 2**64 - 1 and got[1]["code"] == 4003
    assert got[2]["reason"] == wire.decode(messages[2]).reason == "é" * 128


def test_messages_a_client_does_not_receive_are_refused():
    frame = wire.encode_frame(1, 0.0, [])
    results = run_js({"op": "decodeMessage", "hex": frame.hex()},
                     {"op": "decodeMessage", "hex": msgpack.packb([1, 2]).hex()})
    assert results[0]["error"] == 'WireError: "t" is "frame": a client receives "estimate" and "error"'
    assert results[1]["error"] == "WireError: a message is one msgpack map"


VALUES = [None, True, False, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**53 - 1,
          -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**53) + 1,
          0.5, -1.25, 1e300, "", "t", "é" * 20, "x" * 31, "x" * 32, "x" * 255, "x" * 256, "x" * 65536,
          b"", b"\x00\xff", bytes(range(256)) * 300, [], [1, [2, [3]]], list(range(16)), list(range(70000)),
          {}, {"a": 1, "b": [True, None]}, {f"k{i}": i for i in range(16)}, {f"k{i}": i for i in range(70000)},
          {"__proto__": 1, "constructor": 2}]


def to_json(v):
    """A Python value in the driver's tagged JSON."""
    if isinstance(v, bytes):
        return {"$bin": v.hex()}
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int) and abs(v) > 2**53:
        return {"$int": str(v)}
    if isinstance(v, list):
        return [to_json(x) for x in v]
    if isinstance(v, dict):
        return {k: to_json(x) for k, x in v.items()}
    return v


def test_js_encodes_as_msgpack_c_does():
    """Smallest forms, unsigned for integers >= 0: what msgpack-python (and
    msgpack-c, which the server uses) write."""
    for value, result in zip(VALUES, run_js(*({"op": "encode", "value": to_json(v)} for v in VALUES))):
        assert bytes.fromhex(ok(result)) == msgpack.packb(value, use_bin_type=True), repr(value)[:60]


def test_js_decodes_what_msgpack_writes():
    values = VALUES + [2**64 - 1, -(2**63), 2**53 + 1]
    results = run_js(*({"op": "decode", "hex": msgpack.packb(v, use_bin_type=True).hex()} for v in values))
    for value, result in zip(values, results):
        assert from_json(ok(result)) == value, repr(value)[:60]


def test_floats_and_big_integers_in_js():
    jobs = [{"op": "encode", "value": {"$f64": 1.0}}, {"op": "encode", "value": {"$f32": 0.1}},
            {"op": "encode", "value": {"$int": str(2**64 - 1)}}, {"op": "encode", "value": {"$int": str(-(2**63))}},
            {"op": "encode", "value": {"$int": str(2**64)}},
            {"op": "decode", "hex": "ca3dcccccd"}, {"op": "decode", "hex": "cb7ff8000000000000"},
            {"op": "decode", "hex": "cb8000000000000000"}]
    r = run_js(*jobs)
    assert bytes.fromhex(ok(r[0])) == bytes.fromhex("cb3ff0000000000000")  # 1.0 stays a float
    assert bytes.fromhex(ok(r[1])) == msgpack.packb(0.1, use_single_float=True)
    assert bytes.fromhex(ok(r[2])) == msgpack.packb(2**64 - 1)
    assert bytes.fromhex(ok(r[3])) == msgpack.packb(-(2**63))
    assert r[4]["error"].startswith("MsgpackError: integer 18446744073709551616 does not fit in 64 bits")
    assert ok(r[5]) == float(np.float32(0.1))
    assert math.isnan(from_json(ok(r[6])))
    assert ok(r[7]) == {"$float": "-0"}


@pytest.mark.parametrize("data, why", [
    (b"", "truncated"), (b"\x92\x01", "truncated"), (b"\xc5\x02", "truncated"),
    (b"\x01\x02", "1 bytes after the value"), (b"\xc1", "never used"), (b"\xd4\x01\x02", "an extension type"),
    (b"\x81\x01\x02", "a map key at offset 1 is not a string"), (b"\x82\xa1a\x01\xa1a\x02", 'map key "a" given twice'),
    (b"\xa2\xff\xfe", "is not UTF-8"), (b"\x91" * 70 + b"\x00", "nested deeper than 64 levels"),
])
def test_js_decoder_is_strict(data, why):
    (result,) = run_js({"op": "decode", "hex": data.hex()})
    assert result.get("error", "").startswith("MsgpackError") and why in result["error"], result

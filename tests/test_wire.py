"""The protocol's messages through mojofer.wire (the C encoder and decoder):
round trips, interop with a third-party msgpack implementation, the strict
decoder's refusals and their codes, fuzzing, and docs/protocol.md's
examples, which must be exactly what the encoder writes."""
import math
import re
from pathlib import Path

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mojofer
from mojofer import wire
from mojofer.cues import CueEvent
from mojofer.wire import ErrorCode, ProtocolError

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
DECODE_CODES = set(ErrorCode) - {ErrorCode.INTERNAL}


def landmarks(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((68, 2)) * 400).astype(np.float32)


def test_frame_round_trip():
    a, b = landmarks(1), landmarks(2)
    data = wire.encode_frame(2**64 - 1, 12.5, [(3, a, None), {"id": -4, "landmarks": b, "pose": (10, -5, 2.5)}])
    m = wire.decode(data)
    assert isinstance(m, wire.Frame) and m.seq == 2**64 - 1 and m.timestamp == 12.5
    assert [f[0] for f in m.faces] == [3, -4]
    np.testing.assert_array_equal(m.faces[0][1], a)
    np.testing.assert_array_equal(m.faces[1][1], b)
    assert m.faces[0][2] is None and m.faces[1][2] == mojofer.Pose(10.0, -5.0, 2.5)


def test_frame_is_plain_msgpack():
    """What a third-party client sees: a map with lm a bin of little-endian float32."""
    a = landmarks(3)
    m = msgpack.unpackb(wire.encode_frame(7, 0.25, [(1, a, None)]))
    assert m["t"] == "frame" and m["seq"] == 7 and m["ts"] == 0.25
    (face,) = m["faces"]
    assert set(face) == {"id", "lm"} and len(face["lm"]) == 544
    np.testing.assert_array_equal(np.frombuffer(face["lm"], "<f4").reshape(68, 2), a)


@pytest.mark.parametrize("form", ["bin", "list", "ints"])
def test_third_party_frames_decode(form):
    a = landmarks(4)
    lm = {"bin": a.astype("<f4").tobytes(), "list": a.ravel().tolist(),
          "ints": np.round(a).astype(int).ravel().tolist()}[form]
    data = msgpack.packb({"faces": [{"lm": lm, "id": 9, "pose": None}], "ts": 3, "seq": 0, "t": "frame"})
    m = wire.decode(data)
    want = np.round(a) if form == "ints" else a
    np.testing.assert_allclose(m.faces[0][1], want, rtol=1e-7)
    assert m.timestamp == 3.0 and m.faces[0][2] is None


def test_estimate_round_trip_from_the_estimator(astronaut):
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    est = mojofer.Estimator(grace=1.0)
    est.update(0.0, [(1, points, None), (2, points + 300, None)])
    estimates, events = est.update(1.5, [(2, points + 300, None)])
    assert any(e.kind == "face" for e in events) and any(not e.visible for e in estimates)
    m = wire.decode(wire.encode_estimate(5, 1.5, estimates, events))
    assert isinstance(m, wire.EstimateMessage) and (m.seq, m.timestamp) == (5, 1.5)
    assert m.events == events
    assert len(m.faces) == len(estimates)
    for got, want in zip(m.faces, estimates):
        assert (got.id, got.visible, got.pose, got.engagement, got.status) == \
            (want.id, want.visible, want.pose, want.engagement, want.status)
        assert got.emotions == want.emotions and got.action_units == want.action_units
        assert got.attention == pytest.approx(want.attention, rel=1e-7)  # float32 on the wire


def test_error_round_trip():
    assert wire.decode(wire.encode_error(8, ErrorCode.INVALID, "landmarks not finite")) == \
        wire.Error(8, 4012, "landmarks not finite")
    assert wire.decode(wire.encode_error(None, 4007, "")) == wire.Error(None, 4007, "")
    long = "x" * 255 + "é" + "tail"
    assert wire.decode(wire.encode_error(None, 4007, long)).reason == "x" * 255


def packed(**fields):
    base = {"t": "frame", "seq": 1, "ts": 0.5, "faces": [{"id": 1, "lm": landmarks().ravel().tolist()}]}
    base.update(fields)
    return msgpack.packb({k: v for k, v in base.items() if v is not DROP})


DROP = object()


@pytest.mark.parametrize("data, code", [
    (packed(extra=1), ErrorCode.SCHEMA),
    (packed(ts=DROP), ErrorCode.SCHEMA),
    (packed(seq=-1), ErrorCode.SCHEMA),
    (packed(seq="1"), ErrorCode.SCHEMA),
    (packed(ts="now"), ErrorCode.SCHEMA),
    (packed(ts=math.nan), ErrorCode.INVALID),
    (packed(faces={}), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1.5, "lm": [0.0] * 136}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 2**31, "lm": [0.0] * 136}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1, "lm": [0.0] * 135}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1, "lm": b"\0" * 543}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1, "lm": [0.0] * 136, "pose": [1, 2]}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1, "lm": [0.0] * 136, "box": [1, 2]}]), ErrorCode.SCHEMA),
    (packed(faces=[{"id": 1, "lm": [0.0] * 136}] * 65), ErrorCode.TOO_MANY),
    (packed(t="hello"), ErrorCode.TYPE),
    (packed(t=DROP), ErrorCode.SCHEMA),
    (msgpack.packb([1, 2, 3]), ErrorCode.SCHEMA),
    (msgpack.packb({1: 2}), ErrorCode.SCHEMA),
    (packed() + b"\xc0", ErrorCode.MALFORMED),
    (b"", ErrorCode.MALFORMED),
    (b"\xc1", ErrorCode.MALFORMED),
    (b"\x81\xa1t\xdd\xff\xff\xff\xff", ErrorCode.SCHEMA),  # "t" an array of 4 billion
    (b"\x84\xa1t\xa5frame\xa5faces\xdd\xff\xff\xff\xff", ErrorCode.TOO_MANY),
])
def test_refusals(data, code):
    with pytest.raises(ProtocolError) as e:
        wire.decode(data)
    assert e.value.code == code and e.value.reason


def test_refusal_keeps_the_seq_it_read():
    with pytest.raises(ProtocolError) as e:
        wire.decode(packed(faces=[{"id": 1, "lm": [0.0] * 135}]))
    assert e.value.seq == 1


def test_every_truncation_is_malformed():
    data = wire.encode_frame(1, 0.5, [(1, landmarks(), (1, 2, 3))])
    for cut in range(len(data)):
        with pytest.raises(ProtocolError) as e:
            wire.decode(data[:cut])
        assert e.value.code in (ErrorCode.MALFORMED, ErrorCode.SCHEMA, ErrorCode.TYPE), cut


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700))
def test_random_bytes_never_crash(data):
    try:
        wire.decode(data)
    except ProtocolError as e:
        assert e.code in DECODE_CODES and e.reason


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=8) | st.sampled_from(["frame", "estimate", "error", "t", "faces", "lm", "id"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["t", "seq", "ts", "faces", "events", "id", "lm", "pose", "code", "reason",
                         "visible", "x"]), inner, max_size=6),
    max_leaves=30)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(msgpack_values)
def test_random_msgpack_never_crashes(value):
    data = msgpack.packb(value)
    try:
        wire.decode(data)
    except ProtocolError as e:
        assert e.code in DECODE_CODES and e.reason


@settings(max_examples=300)
@given(st.data())
def test_mutated_frames_never_crash(data):
    frame = bytearray(wire.encode_frame(1, 0.5, [(1, landmarks(), (1, 2, 3)), (2, landmarks(1), None)]))
    for _ in range(data.draw(st.integers(1, 4))):
        frame[data.draw(st.integers(0, len(frame) - 1))] = data.draw(st.integers(0, 255))
    try:
        wire.decode(bytes(frame))
    except ProtocolError as e:
        assert e.code in DECODE_CODES


# ---- docs/protocol.md's examples

def doc_messages():
    """The examples docs/protocol.md shows, built by the encoder."""
    lm = np.array([[200 + 4 * (i % 17), 150 + 3 * (i // 17)] for i in range(68)], np.float32)
    frame = wire.encode_frame(17, 0.5, [(0, lm, None)])
    estimate = mojofer.Estimate(
        0, True, mojofer.Pose(4.5, -2.0, 1.25),
        dict(zip(mojofer.EMOTIONS, [0.5, 0.375, 0.0625, 0.0625, 0.0, 0.0, 0.0])), 0.375, 0.0625, 0.0,
        dict(zip(mojofer.ACTION_UNITS, [0.0, 0.0, 0.0, 0.0, 0.125, 0.0, 0.0, 0.0, 0.0])), 1.0,
        "engaging", "possible")
    events = [CueEvent(0.5, "face", "absent", "visible", 0), CueEvent(0.5, "engagement", "idle", "engaging", 0),
              CueEvent(0.5, "status", "idle", "possible", 0)]
    return {"frame": frame, "estimate": wire.encode_estimate(17, 0.5, [estimate], events),
            "error": wire.encode_error(18, ErrorCode.INVALID, "faces refused: landmarks not finite")}


def hex_dump(data: bytes) -> str:
    return "\n".join(data[i:i + 32].hex(" ") for i in range(0, len(data), 32))


def doc_hex_blocks():
    text = DOC.read_text()
    blocks = re.findall(r"<!-- hex: (\w+) -->\n```\n(.*?)```", text, re.S)
    return {name: bytes.fromhex(body.replace("\n", " ")) for name, body in blocks}


def test_doc_examples_are_what_the_encoder_writes():
    blocks, want = doc_hex_blocks(), doc_messages()
    assert set(blocks) == set(want)
    for name, data in want.items():
        assert blocks[name] == data, f"docs/protocol.md's {name} example is stale; it is now:\n{hex_dump(data)}"


def test_doc_examples_decode():
    blocks = doc_hex_blocks()
    frame = wire.decode(blocks["frame"])
    assert (frame.seq, frame.timestamp, frame.faces[0][0]) == (17, 0.5, 0)
    assert frame.faces[0][1][:2].tolist() == [[200.0, 150.0], [204.0, 150.0]]
    estimate = wire.decode(blocks["estimate"])
    assert estimate.faces[0].status == "possible" and len(estimate.events) == 3
    assert wire.decode(blocks["error"]) == wire.Error(18, 4012, "faces refused: landmarks not finite")


def test_doc_backend_example_runs(astronaut):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    scope = {}
    exec(code, scope)
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    answer = wire.decode(scope["on_message"](wire.encode_frame(1, 0.0, [(0, points, None)])))
    assert isinstance(answer, wire.EstimateMessage) and answer.faces[0].visible
    assert wire.decode(scope["on_message"](b"\xc1")) == wire.Error(None, 4007, "the byte 0xc1 is no msgpack")
    late = wire.decode(scope["on_message"](wire.encode_frame(2, -1.0, [(0, points, None)])))
    assert isinstance(late, wire.Error) and (late.seq, late.code) == (2, 4012)
    assert wire.decode(scope["on_message"](wire.encode_error(3, 4012, "x"))).code == 4010

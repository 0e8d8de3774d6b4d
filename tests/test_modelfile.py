"""The .mfm model file: the Python writer and reader, the C loader behind
mojofer._core.Model, and what both do with damaged files."""
import gc
import struct
import zlib

import numpy as np
import pytest

import mojofer
from mojofer import ModelError, _core
from mojofer.modelfile import (ENTRY, HEADER, MAGIC, MAX_TENSORS, VERSION, encode_model,
                               read_model, write_model)
from mojofer.models import model_path

ENTRY_AT = HEADER.size  # the tensor table follows the 48-byte header


def _tensors():
    """float32 and int32, 1 to 4 dims, odd sizes, edge values and names of every length."""
    rng = np.random.default_rng(0)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], np.float32)
    return {
        "a": np.arange(5, dtype=np.float32) * 0.5,
        "int_matrix": rng.integers(-2**31, 2**31 - 1, (3, 7), dtype=np.int32),
        "cube": rng.standard_normal((2, 3, 4)).astype(np.float32),
        "x" * 47: np.arange(2 * 1 * 3 * 5, dtype=np.int32).reshape(2, 1, 3, 5),
        "trailing_ones": np.ones((5, 1), np.int32),
        "four_ones": np.full((1, 1, 1, 1), 7, np.float32),
        "special": special,
        "int_limits": np.array([-2**31, 2**31 - 1, 0, -1], np.int32),
        "transposed": np.arange(12, dtype=np.float32).reshape(3, 4).T,  # not contiguous
    }


def _assert_same(got: np.ndarray, want: np.ndarray):
    assert got.dtype == want.dtype.newbyteorder("=")
    assert got.shape == want.shape
    assert got.tobytes() == np.ascontiguousarray(want).tobytes()  # bitwise: NaN, -0.0


def _with_crc(data: bytes) -> bytes:
    """`data` with its footer recomputed, so only the field checks can catch a change."""
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def _patched(data: bytes, offset: int, fmt: str, value, fix_crc=True) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return _with_crc(bytes(out)) if fix_crc else bytes(out)


@pytest.fixture(scope="module")
def small() -> bytes:
    """A small valid file: two tensors, 388 bytes."""
    return encode_model("tiny", {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                                 "n": np.array([1, 2, 3], np.int32)})


# ---- round trip -------------------------------------------------------------


def test_round_trip_python_reader(tmp_path):
    tensors = _tensors()
    path = write_model(tmp_path / "m.mfm", "kind_sixteen_ch_", tensors)
    assert path.read_bytes() == encode_model("kind_sixteen_ch_", tensors)
    kind, read = read_model(path)
    assert kind == "kind_sixteen_ch_"
    assert list(read) == list(tensors)
    for name, want in tensors.items():
        _assert_same(read[name], want)


@pytest.mark.parametrize("source", ["str", "path", "bytes"])
def test_round_trip_c_loader(tmp_path, source):
    tensors = _tensors()
    path = write_model(tmp_path / "m.mfm", "landmarks", tensors)
    model = _core.Model({"str": str(path), "path": path, "bytes": path.read_bytes()}[source])
    assert model.kind == "landmarks"
    assert model.names == list(tensors)
    for name, want in tensors.items():
        _assert_same(model.tensor(name), want)


def test_layout_follows_the_header_doc(small):
    magic, version, count, kind, file_size, data_offset = HEADER.unpack_from(small)
    assert (magic, version, count, kind) == (MAGIC, 1, 2, b"tiny" + b"\0" * 12)
    assert file_size == len(small) == 388
    assert data_offset % 64 == 0 and data_offset >= 48 + 2 * 88
    name, dtype, ndim, *dims, offset, nbytes = ENTRY.unpack_from(small, ENTRY_AT)
    assert (name.rstrip(b"\0"), dtype, ndim, dims, offset, nbytes) == (b"w", 0, 2, [2, 3, 1, 1], 0, 24)
    name, dtype, ndim, *dims, offset, nbytes = ENTRY.unpack_from(small, ENTRY_AT + ENTRY.size)
    assert (name.rstrip(b"\0"), dtype, ndim, dims, offset, nbytes) == (b"n", 1, 1, [3, 1, 1, 1], 64, 12)
    assert struct.unpack("<I", small[-4:])[0] == zlib.crc32(small[:-4])
    assert struct.unpack_from("<6f", small, data_offset) == (0, 1, 2, 3, 4, 5)


def test_tensors_are_copies(small):
    model = _core.Model(small)
    first = model.tensor("w")
    first[:] = -1
    assert model.tensor("w").tolist() == [[0, 1, 2], [3, 4, 5]]


def test_unknown_tensor_is_a_key_error(small):
    with pytest.raises(KeyError, match="no tensor named 'nope'"):
        _core.Model(small).tensor("nope")


def test_many_tensors():
    tensors = {f"t{i}": np.array([i], np.int32) for i in range(MAX_TENSORS)}
    model = _core.Model(encode_model("many", tensors))
    assert len(model.names) == MAX_TENSORS
    assert model.tensor("t1023").tolist() == [1023]


def test_bundled_model_reads_the_same_in_python_and_c():
    path = model_path("face_detector.mfm")
    kind, tensors = read_model(path)
    model = _core.Model(path)
    assert kind == model.kind == "face_detector"
    assert model.names == list(tensors)
    for name, value in tensors.items():
        _assert_same(model.tensor(name), value)
    assert encode_model(kind, tensors) == path.read_bytes()


# ---- writer rejects bad input -----------------------------------------------


@pytest.mark.parametrize("tensors, error, message", [
    ({"w": np.zeros(3, np.float64)}, TypeError, r"tensor 'w' must be float32 or int32, got float64"),
    ({"w": np.zeros(3, np.int64)}, TypeError, r"must be float32 or int32, got int64"),
    ({"w": np.zeros(3, np.uint8)}, TypeError, r"must be float32 or int32, got uint8"),
    ({"w": [1.0, 2.0]}, TypeError, r"must be float32 or int32"),
    ({}, ValueError, r"1 to 1024 tensors, got 0"),
    ({"x" * 48: np.zeros(3, np.float32)}, ValueError, r"name must be 1 to 47 ASCII characters"),
    ({"": np.zeros(3, np.float32)}, ValueError, r"name must be 1 to 47 ASCII characters"),
    ({"w": np.zeros((1, 2, 1, 2, 1), np.float32)}, ValueError, r"1 to 4 non-empty dims, got \(1, 2, 1, 2, 1\)"),
    ({"w": np.zeros((3, 0), np.int32)}, ValueError, r"non-empty dims, got \(3, 0\)"),
    ({"w": np.float32(1.0)}, ValueError, r"1 to 4 non-empty dims, got a scalar"),
    ({"a\0b": np.zeros(3, np.float32)}, ValueError, r"name must be 1 to 47 ASCII characters"),
])
def test_writer_rejects(tensors, error, message):
    with pytest.raises(error, match=message):
        encode_model("k", tensors)


def test_writer_rejects_too_many_tensors():
    tensors = {f"t{i}": np.array([i], np.int32) for i in range(MAX_TENSORS + 1)}
    with pytest.raises(ValueError, match="1 to 1024 tensors, got 1025"):
        encode_model("k", tensors)


@pytest.mark.parametrize("kind", ["", "k" * 17])
def test_writer_rejects_bad_kind(kind):
    with pytest.raises(ValueError, match="kind must be 1 to 16 ASCII characters"):
        encode_model(kind, {"w": np.zeros(1, np.float32)})


def test_writer_accepts_big_endian_arrays():
    values = np.arange(6, dtype=">f4").reshape(2, 3)
    model = _core.Model(encode_model("k", {"w": values}))
    assert model.tensor("w").dtype == np.float32
    np.testing.assert_array_equal(model.tensor("w"), values)


def test_directory_is_not_a_model(tmp_path):
    with pytest.raises(OSError):
        _core.Model(tmp_path)


def test_writer_rejects_non_ascii_names():
    with pytest.raises(ValueError):
        encode_model("k", {"\u00e9": np.zeros(1, np.float32)})
    with pytest.raises(ValueError):
        encode_model("\u00e9", {"w": np.zeros(1, np.float32)})


# ---- damaged files ------------------------------------------------------------


def test_every_truncation(small, tmp_path):
    path = tmp_path / "cut.mfm"
    for size in range(len(small)):
        with pytest.raises(ModelError, match="truncated") as from_bytes:
            _core.Model(small[:size])
        assert "model bytes" in str(from_bytes.value)
        path.write_bytes(small[:size])
        with pytest.raises(ModelError, match="truncated") as from_path:
            _core.Model(path)
        assert "cut.mfm" in str(from_path.value)
        with pytest.raises(ValueError):
            read_model(path)


def test_every_flipped_byte(small, tmp_path):
    path = tmp_path / "flipped.mfm"
    for at in range(len(small)):
        damaged = bytearray(small)
        damaged[at] ^= 0xFF
        with pytest.raises(ModelError, match="magic|version|truncated|corrupted"):
            _core.Model(bytes(damaged))
        path.write_bytes(damaged)
        with pytest.raises(ModelError):
            _core.Model(path)
        with pytest.raises(ValueError):
            read_model(path)


def test_every_flipped_bit_of_the_header_and_table(small):
    for at in range(HEADER.size + 2 * ENTRY.size):
        for bit in range(8):
            damaged = bytearray(small)
            damaged[at] ^= 1 << bit
            with pytest.raises(ModelError):
                _core.Model(bytes(damaged))


def test_appended_bytes(small):
    with pytest.raises(ModelError, match="corrupted"):
        _core.Model(small + b"\0")
    with pytest.raises(ModelError, match="corrupted"):
        _core.Model(small + small)


def test_model_error_is_a_value_error():
    assert issubclass(ModelError, ValueError)
    assert mojofer.ModelError is _core.ModelError


@pytest.mark.parametrize("magic", [b"MOJOFEr\0", b"\0" * 8, b"GGUF\0\0\0\0", b"\x89PNG\r\n\x1a\n"])
def test_wrong_magic(small, magic):
    data = _with_crc(magic + small[8:])
    with pytest.raises(ModelError, match="bad magic"):
        _core.Model(data)
    with pytest.raises(ModelError, match="bad magic"):
        _core.Model(data[:20])  # too short to be a model, but clearly not one


def test_other_files_are_not_models(tmp_path):
    png = tmp_path / "picture.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    with pytest.raises(ModelError, match="bad magic"):
        _core.Model(png)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(ModelError, match="bad magic"):
        _core.Model(text)


@pytest.mark.parametrize("version", [0, 2, VERSION + 1, 0xFFFFFFFF])
@pytest.mark.parametrize("fix_crc", [True, False])
def test_wrong_version(small, version, fix_crc):
    data = _patched(small, 8, "<I", version, fix_crc)
    with pytest.raises(ModelError, match="unsupported model file version"):
        _core.Model(data)


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "model.mfm"
    with pytest.raises(FileNotFoundError) as error:
        _core.Model(missing)
    assert isinstance(error.value, OSError)
    assert error.value.filename == missing
    with pytest.raises(FileNotFoundError):
        mojofer.FaceDetector(missing)
    with pytest.raises(FileNotFoundError, match="bundled model 'nope.mfm' not found"):
        model_path("nope.mfm")


def test_source_of_wrong_type():
    with pytest.raises(TypeError, match="path .* or bytes, not float"):
        _core.Model(1.5)


# Fields changed with the checksum recomputed: only the loader's field checks
# stand between these files and out-of-bounds reads.
ENTRY1 = ENTRY_AT + ENTRY.size


@pytest.mark.parametrize("offset, fmt, value", [
    (12, "<I", 0),                       # no tensors
    (12, "<I", 3),                       # table runs into the data
    (12, "<I", MAX_TENSORS + 1),
    (12, "<I", 0xFFFFFFFF),
    (32, "<Q", 387),                     # file_size smaller than the file
    (40, "<Q", 200),                     # data_offset not aligned
    (40, "<Q", 128),                     # data_offset inside the table
    (40, "<Q", 0),
    (40, "<Q", 1 << 62),                 # data_offset past the end
    (ENTRY_AT, "<48s", b"A" * 48),       # name without a terminating NUL
    (ENTRY_AT, "<48s", b""),             # empty name
    (ENTRY1, "<48s", b"w"),              # duplicate name
    (ENTRY_AT + 48, "<I", 2),            # unknown dtype
    (ENTRY_AT + 52, "<I", 0),            # ndim 0
    (ENTRY_AT + 52, "<I", 5),            # ndim 5
    (ENTRY_AT + 56, "<I", 0),            # a zero dim
    (ENTRY_AT + 64, "<I", 2),            # an unused dim that is not 1
    (ENTRY_AT + 56, "<4I", (0xFFFFFFFF,) * 4),  # dims whose product overflows
    (ENTRY_AT + 56, "<4I", (0x10000, 0x10000, 1, 1)),
    (ENTRY_AT + 72, "<Q", 1),            # misaligned tensor offset
    (ENTRY_AT + 72, "<Q", 64 * 3),       # tensor past the end of the data
    (ENTRY_AT + 72, "<Q", (1 << 64) - 64),  # offset that would wrap
    (ENTRY_AT + 80, "<Q", 28),           # nbytes that disagrees with dims
    (ENTRY_AT + 80, "<Q", (1 << 64) - 4),
    (ENTRY1 + 72, "<Q", 128),            # second tensor runs past the end
])
def test_bad_fields_with_a_valid_checksum(small, offset, fmt, value):
    args = value if isinstance(value, tuple) else (value,)
    out = bytearray(small)
    struct.pack_into(fmt, out, offset, *args)
    with pytest.raises(ModelError, match="corrupted|truncated"):
        _core.Model(_with_crc(bytes(out)))


def _text_bytes(data: bytes) -> set:
    """Offsets of the kind and the tensor names: the ASCII fields of the file."""
    count = HEADER.unpack_from(data)[2]
    text = set(range(16, 32))
    for i in range(count):
        text.update(range(ENTRY_AT + i * ENTRY.size, ENTRY_AT + i * ENTRY.size + 48))
    return text


def test_random_damage_with_a_valid_checksum(small):
    """Random bytes of the header and table changed and the checksum fixed:
    each file either loads whole or raises ModelError, nothing else. (Text
    fields get ASCII values only; non-ASCII text is test_non_ascii_text.)"""
    rng = np.random.default_rng(0)
    data_offset = HEADER.unpack_from(small)[5]
    text = _text_bytes(small)
    loaded = 0
    for _ in range(3000):
        out = bytearray(small)
        for at in rng.integers(8, data_offset, rng.integers(1, 4)):
            value = rng.integers(0, 256) if rng.random() < 0.5 else out[at] ^ (1 << rng.integers(8))
            out[at] = value & 0x7F if at in text else value
        try:
            model = _core.Model(_with_crc(bytes(out)))
        except ModelError:
            continue
        loaded += 1
        assert model.kind.isascii()
        for name in model.names:
            assert model.tensor(name).size >= 1
    assert loaded > 0  # some changes (e.g. to the kind or padding) are harmless


@pytest.mark.parametrize("offset", [16, ENTRY_AT], ids=["kind", "name"])
def test_non_ascii_text_is_rejected(small, offset):
    with pytest.raises(ModelError, match="corrupted"):
        _core.Model(_patched(small, offset, "<B", 0xE9))


# ---- models of the wrong kind or shape for the detector -----------------------


@pytest.fixture(scope="module")
def detector_tensors():
    kind, tensors = read_model(model_path("face_detector.mfm"))
    assert kind == "face_detector"
    return tensors


def test_bundled_detector_model_loads(detector_tensors):
    model = _core.Model(model_path("face_detector.mfm"))
    _core.Detector(model)
    assert set(model.names) == {"window", "stage_threshold", "stage_weak", "stump_feature",
                                "stump_threshold", "stump_leaf", "rect", "box_calibration"}


@pytest.mark.parametrize("kind", ["landmarks", "face_detecto", "face_detectorX", "Face_detector"])
def test_detector_on_a_model_of_another_kind(detector_tensors, tmp_path, kind):
    path = write_model(tmp_path / "other.mfm", kind, detector_tensors)
    assert _core.Model(path).kind == kind  # a valid file ...
    with pytest.raises(ModelError, match="wrong kind"):  # ... but not a face detector
        mojofer.FaceDetector(path)
    with pytest.raises(ModelError, match="wrong kind"):
        _core.Detector(_core.Model(path))


@pytest.mark.parametrize("missing", ["window", "stage_threshold", "stage_weak", "stump_feature",
                                     "stump_threshold", "stump_leaf", "rect", "box_calibration"])
def test_detector_model_missing_a_tensor(detector_tensors, tmp_path, missing):
    tensors = {k: v for k, v in detector_tensors.items() if k != missing}
    path = write_model(tmp_path / "partial.mfm", "face_detector", tensors)
    with pytest.raises(ModelError, match="lacks a required tensor"):
        mojofer.FaceDetector(path)


def _broken(tensors, name, change):
    out = {k: v.copy() for k, v in tensors.items()}
    out[name] = change(out[name])
    return out


def _set(index, value):
    def change(a):
        a[index] = value
        return a
    return change


@pytest.mark.parametrize("name, change", [
    ("window", lambda a: a.astype(np.float32)),                 # wrong dtype
    ("window", lambda a: np.array([24], np.int32)),              # wrong size
    ("window", lambda a: np.array([2, 2], np.int32)),            # too small
    ("window", lambda a: np.array([1000, 24], np.int32)),        # too large
    ("stage_weak", lambda a: a[:-1]),                            # not stage count + 1
    ("stage_weak", _set(0, 1)),
    ("stage_weak", _set(-1, 10**6)),                             # past the last stump
    ("stage_weak", _set(3, 0)),                                  # not increasing
    ("stage_threshold", _set(2, np.nan)),
    ("stump_feature", _set(5, -1)),                              # feature index out of range
    ("stump_feature", _set(5, 10**6)),
    ("stump_threshold", lambda a: a[:-1]),
    ("stump_threshold", _set(0, np.inf)),
    ("stump_leaf", lambda a: a[:-1]),
    ("stump_leaf", _set((1, 1), np.nan)),
    ("rect", lambda a: a[:-1]),
    ("rect", _set((0, 0, 0), -1.0)),                             # outside the window
    ("rect", _set((0, 0, 2), 1000.0)),
    ("rect", _set((0, 0, 4), np.inf)),
    ("box_calibration", lambda a: a[:3]),
    ("box_calibration", lambda a: a.astype(np.int32)),
])
def test_detector_model_with_a_bad_tensor(detector_tensors, name, change):
    model = _core.Model(encode_model("face_detector", _broken(detector_tensors, name, change)))
    with pytest.raises(ModelError, match="lacks a required tensor or has one of the wrong shape"):
        _core.Detector(model)


def test_detector_keeps_its_model_alive(detector_tensors, astronaut):
    detector = _core.Detector(_core.Model(encode_model("face_detector", detector_tensors)))
    gc.collect()
    rows = detector.detect(astronaut)
    assert rows.shape == (1, 5) and rows.dtype == np.float32

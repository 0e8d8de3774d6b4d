"""Frames in: layouts, channel orders and strides the detector accepts, and the
errors it gives for everything else."""
import threading

import numpy as np
import pytest

import mojofer


def _via_function(frame, **options):
    return mojofer.detect_faces(frame, **options)


@pytest.fixture(params=["detect_faces", "FaceDetector.detect"])
def detect(request, detector):
    """Both public entry points; each test runs against each."""
    return _via_function if request.param == "detect_faces" else detector.detect


def _bt601_gray(rgb: np.ndarray) -> np.ndarray:
    """The core's own RGB -> gray conversion (fixed-point BT.601, as OpenCV)."""
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((4899 * r + 9617 * g + 1868 * b + (1 << 13)) >> 14).astype(np.uint8)


def _same_as_contiguous(detect, view, **options):
    """Boxes of a view, checked equal to those of a contiguous copy; returned."""
    assert not view.flags.c_contiguous  # a real strided view, not a copy
    got = detect(view, **options)
    want = detect(np.ascontiguousarray(view), **options)
    assert got == want
    return got


# ---- channel layouts --------------------------------------------------------


def test_rgb_finds_the_face(detect, astronaut):
    boxes = detect(astronaut)
    assert len(boxes) == 1
    assert all(isinstance(b, mojofer.Box) for b in boxes)


def test_bgr_of_reversed_channels_matches_rgb(detect, astronaut):
    bgr = np.ascontiguousarray(astronaut[..., ::-1])
    assert detect(bgr, bgr=True) == detect(astronaut)


def test_bgr_flag_matters(detect, astronaut):
    # Reading RGB as BGR swaps the red and blue weights, so the gray image differs.
    gray_rgb = _bt601_gray(astronaut)
    gray_swapped = _bt601_gray(np.ascontiguousarray(astronaut[..., ::-1]))
    assert not np.array_equal(gray_rgb, gray_swapped)
    assert detect(astronaut, bgr=True) == detect(gray_swapped)


def test_rgba_ignores_alpha(detect, astronaut):
    rgba = np.dstack([astronaut, np.zeros(astronaut.shape[:2], np.uint8)])
    assert rgba.shape == (512, 512, 4)
    assert detect(rgba) == detect(astronaut)
    rgba[..., 3] = np.arange(512, dtype=np.uint8)[None, :]  # noise in alpha changes nothing
    assert detect(rgba) == detect(astronaut)
    bgra = np.ascontiguousarray(rgba[..., [2, 1, 0, 3]])
    assert detect(bgra, bgr=True) == detect(astronaut)


def test_gray_matches_rgb_through_the_same_conversion(detect, astronaut):
    gray = _bt601_gray(astronaut)
    assert gray.shape == (512, 512)
    boxes = detect(gray)
    assert len(boxes) == 1
    assert boxes == detect(astronaut)
    assert detect(gray, bgr=True) == boxes  # bgr means nothing for one channel


# ---- strides ----------------------------------------------------------------


def test_subsampled_view(detect, astronaut):
    boxes = _same_as_contiguous(detect, astronaut[::2, ::2])
    assert len(boxes) == 1


def test_column_reversed_view(detect, astronaut):
    view = astronaut[:, ::-1]
    assert view.strides[1] < 0
    boxes = _same_as_contiguous(detect, view)
    assert len(boxes) == 1


def test_row_reversed_view(detect, astronaut):
    view = astronaut[::-1]
    assert view.strides[0] < 0
    _same_as_contiguous(detect, view)


def test_channel_reversed_view_with_bgr(detect, astronaut):
    view = astronaut[..., ::-1]
    assert view.strides[2] < 0
    boxes = _same_as_contiguous(detect, view, bgr=True)
    assert boxes == detect(astronaut)


def test_non_contiguous_crop(detect, astronaut):
    view = astronaut[40:400, 100:460]
    assert not view.flags.c_contiguous
    boxes = _same_as_contiguous(detect, view)
    assert len(boxes) == 1
    full = detect(astronaut)[0]
    # the crop's face is the frame's face shifted by the crop's corner
    assert boxes[0].x + 100 == pytest.approx(full.x, abs=3)
    assert boxes[0].y + 40 == pytest.approx(full.y, abs=3)


def test_fortran_ordered(detect, astronaut):
    frame = np.asfortranarray(astronaut)
    assert frame.flags.f_contiguous and not frame.flags.c_contiguous
    boxes = _same_as_contiguous(detect, frame)
    assert boxes == detect(astronaut)
    gray = np.asfortranarray(_bt601_gray(astronaut))
    _same_as_contiguous(detect, gray)


def test_channels_first_storage(detect, astronaut):
    planar = np.ascontiguousarray(np.moveaxis(astronaut, 2, 0))  # C, H, W in memory
    view = np.moveaxis(planar, 0, 2)
    assert view.strides[2] == 512 * 512
    assert _same_as_contiguous(detect, view) == detect(astronaut)


def test_strided_rgba_and_gray(detect, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    _same_as_contiguous(detect, rgba[::-1, ::2])
    _same_as_contiguous(detect, _bt601_gray(astronaut)[:, ::-1])
    _same_as_contiguous(detect, _bt601_gray(astronaut).T)


def test_read_only_and_zero_stride_frames(detect):
    frame = np.broadcast_to(np.uint8(128), (240, 320))
    assert frame.strides == (0, 0) and not frame.flags.writeable
    assert detect(frame) == []
    pixel = np.array([10, 200, 30], np.uint8)
    assert detect(np.broadcast_to(pixel, (240, 320, 3))) == []


def test_result_values(detect, astronaut):
    (box,) = detect(astronaut)
    assert box.as_tuple() == (box.x, box.y, box.w, box.h)
    assert all(type(v) is float for v in (box.x, box.y, box.w, box.h, box.score))
    assert box.w > 0 and box.h > 0 and box.score >= 1


# ---- errors -----------------------------------------------------------------


@pytest.mark.parametrize("frame, name", [(None, "NoneType"), ([[1, 2], [3, 4]], "list"),
                                         ("frame", "str")])
def test_not_an_array(detect, frame, name):
    with pytest.raises(TypeError, match=rf"numpy\.ndarray.*uint8.*not {name}"):
        detect(frame)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint16, np.int8, np.bool_])
def test_wrong_dtype(detect, dtype):
    frame = np.zeros((64, 64, 3), dtype)
    with pytest.raises(TypeError, match=rf"dtype uint8, not {np.dtype(dtype).name}"):
        detect(frame)


@pytest.mark.parametrize("shape", [(64,), (2, 64, 64, 3), (1, 1, 1, 1)])
def test_wrong_number_of_dimensions(detect, shape):
    with pytest.raises(ValueError, match=rf"\(H, W\).*got {len(shape)} dimension"):
        detect(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("channels", [1, 2, 5])
def test_wrong_number_of_channels(detect, channels):
    with pytest.raises(ValueError, match="last axis that is not 3 or 4"):
        detect(np.zeros((64, 64, channels), np.uint8))


@pytest.mark.parametrize("shape", [(0, 64), (64, 0), (0, 0), (0, 64, 3), (64, 0, 4)])
def test_empty(detect, shape):
    with pytest.raises(ValueError, match=r"empty: shape \(\d+, \d+\)"):
        detect(np.zeros(shape, np.uint8))


@pytest.mark.parametrize("shape", [(10_001, 10_000), (10_000, 10_001, 3), (20_000, 20_000, 4)])
def test_over_the_pixel_limit(detect, shape):
    # zero strides: a view of one pixel, no memory behind the huge shape
    frame = np.broadcast_to(np.zeros((1,) * len(shape), np.uint8), shape)
    assert frame.nbytes > 100_000_000 and not any(frame.strides)
    with pytest.raises(ValueError, match="too large.*the limit is 100000000 pixels"):
        detect(frame)


def test_over_the_side_limit(detect):
    frame = np.lib.stride_tricks.as_strided(np.zeros(1, np.uint8), shape=(40_000, 8),
                                            strides=(0, 0))
    with pytest.raises(ValueError, match="too large.*32768 per side"):
        detect(frame)


def test_limits_are_the_documented_ones():
    limits = mojofer._core.limits()
    assert limits["max_image_pixels"] == 100_000_000
    assert limits["max_image_side"] == 32768


@pytest.mark.parametrize("option, value", [
    ("min_size", 0), ("min_size", -5), ("max_size", -1), ("scale_factor", 1.0),
    ("scale_factor", 1.001), ("scale_factor", 5.0), ("scale_factor", float("nan")),
    ("scale_factor", float("inf")), ("min_neighbors", -1)])
def test_bad_parameters(detect, astronaut, option, value):
    with pytest.raises(ValueError, match=rf"^{option} must be"):
        detect(astronaut, **{option: value})


@pytest.mark.parametrize("option, value", [("min_size", 1), ("max_size", 0), ("scale_factor", 1.01),
                                           ("scale_factor", 4.0), ("min_neighbors", 0)])
def test_edge_parameters_are_accepted(detect, astronaut, option, value):
    boxes = detect(astronaut[::4, ::4], **{option: value})
    assert isinstance(boxes, list)


def test_bad_parameter_types(detect, astronaut):
    with pytest.raises(TypeError):
        detect(astronaut, min_size="24")
    with pytest.raises(TypeError):
        detect(astronaut, unknown=1)


def test_defaults_are_the_cores():
    assert mojofer._core.detect_defaults() == {"min_size": 24, "max_size": 0,
                                               "scale_factor": pytest.approx(1.1),
                                               "min_neighbors": 3, "exhaustive": False}


# ---- threads ----------------------------------------------------------------


@pytest.fixture(scope="module")
def large_frame(astronaut):
    """1024x1536 with six copies of the face, and some noise so no two tiles are equal."""
    rng = np.random.default_rng(1)
    tiled = np.tile(astronaut, (2, 3, 1)).astype(np.int16)
    tiled += rng.integers(-4, 5, tiled.shape, dtype=np.int16)
    return np.clip(tiled, 0, 255).astype(np.uint8)


def _run_in_threads(work, count=2):
    """Runs work() in `count` threads started together; returns their results."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a detection thread did not finish"
    assert not errors, errors
    return results


def test_threads_with_their_own_detectors(large_frame):
    sequential = mojofer.detect_faces(large_frame)
    assert len(sequential) >= 6
    results = _run_in_threads(lambda: mojofer.detect_faces(large_frame))
    assert results == [sequential, sequential]


def test_threads_sharing_one_detector(large_frame, detector):
    sequential = detector.detect(large_frame)
    results = _run_in_threads(lambda: detector.detect(large_frame), count=3)
    assert results == [sequential] * 3


def test_threads_with_different_frames(large_frame, astronaut, detector):
    frames = [large_frame, astronaut, large_frame[:, ::-1], np.zeros((300, 300), np.uint8)]
    want = [detector.detect(f) for f in frames]
    got = _run_in_threads(lambda: [mojofer.detect_faces(f) for f in frames], count=2)
    assert got == [want, want]


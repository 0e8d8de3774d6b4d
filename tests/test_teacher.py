"""The teacher's pseudo-labelled faces (mojofer.train.teacher): crops made
as the landmark training crops, dlib's points inside them, only from the
sources the expression benchmark never tests on.

Needs the research data and dlib, the teacher (the `bench` extra and
Debian's libdlib-data): without dlib this fails, naming what is missing."""
import numpy as np
import pytest

from mojofer.train.expression_data import TEST_SOURCES
from mojofer.train.teacher import CROP_MAX, DLIB_PREDICTOR, teacher_faces


@pytest.fixture(scope="module")
def taught(data_root):
    try:
        import dlib  # noqa: F401
    except ImportError:
        pytest.fail('the teacher needs dlib: pip install -e ".[bench]"', pytrace=False)
    if not DLIB_PREDICTOR.is_file():
        pytest.fail(f"the teacher needs {DLIB_PREDICTOR} (Debian's libdlib-data)", pytrace=False)
    return teacher_faces(data_root / "expressions", limit=20, quiet=True)


def test_teacher_faces_are_square_crops_with_the_points_inside(taught):
    images, shapes, sources = taught
    assert 18 <= len(images) <= 20   # dlib finds a face of usable size in all 20 today
    assert shapes.shape == (len(images), 68, 2) and len(sources) == len(images)
    for image, shape in zip(images, shapes):
        side = image.shape[0]
        assert image.dtype == np.uint8 and image.shape == (side, side) and 64 <= side <= CROP_MAX
        assert (shape >= 0).all() and (shape <= side - 1).all()
        # the crop is twice the face's larger side, so the eyes' outer corners are
        # about a quarter to a third of it apart (0.28-0.33 on these faces)
        eyes = np.linalg.norm(shape[45] - shape[36]) / side
        assert 0.2 <= eyes <= 0.4
        # a face, not a point cloud: centred, jaw below the eyes
        centre = (shape.min(axis=0) + shape.max(axis=0)) / 2
        assert np.allclose(centre, (side - 1) / 2, atol=0.05 * side)
        assert shape[8, 1] > shape[[36, 45], 1].max()


def test_teacher_faces_never_come_from_the_expression_benchmarks_test_sources(taught):
    _, _, sources = taught
    assert set(sources) == {"muxspace"} and not set(sources) & set(TEST_SOURCES)

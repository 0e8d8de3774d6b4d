"""The expression classifier: C against the NumPy reference, probabilities,
mirror symmetry, a neutral face, person baselines (subjects), action units,
bad input, and the trainer."""
import threading

import numpy as np
import pytest

import mojofer
from mojofer.landmarks import MIRROR
from mojofer.modelfile import read_model, write_model
from mojofer.models import model_path
from mojofer.train import expression_reference as ref
from mojofer.train import expressions as training
from mojofer.train.expression_data import CLASSES, ExpressionSet


@pytest.fixture(scope="module")
def classifier():
    return mojofer.ExpressionClassifier()


@pytest.fixture(scope="module")
def tensors():
    kind, tensors = read_model(model_path("expressions.mfm"))
    assert kind == "expressions"
    return tensors


def reference_probabilities(tensors, points, baselines=None, weights=None):
    layers, i = [], 0
    while f"layer{i}.weight" in tensors:
        layers.append((tensors[f"layer{i}.weight"], tensors[f"layer{i}.bias"]))
        i += 1
    return ref.probabilities(points.astype(np.float64), tensors["reference"],
                             tensors["neutral_shape"], tensors["feature_mean"],
                             tensors["feature_std"], layers, baselines, weights)


def posed(shape, scale, angle, shift):
    c, s = np.cos(angle), np.sin(angle)
    return (scale * shape @ np.array([[c, s], [-s, c]]) + shift).astype(np.float32)


def mirrored(points, width=640.0):
    out = points[MIRROR].copy()
    out[:, 0] = width - 1 - out[:, 0]
    return out


@pytest.fixture(scope="module")
def faces(tensors):
    """Plausible faces: the reference face, deformed a little, at random
    positions, sizes and in-plane rotations (seeded)."""
    rng = np.random.default_rng(1)
    out = []
    for _ in range(40):
        shape = tensors["reference"] + rng.normal(0, 0.03, (68, 2))
        out.append(posed(shape, rng.uniform(40, 300), rng.uniform(-0.5, 0.5),
                         rng.uniform(100, 500, 2)))
    return np.array(out)


def test_c_mlp_equals_numpy_reference(classifier, tensors, faces):
    emotions, _, _ = classifier.classify_many(faces)
    np.testing.assert_allclose(emotions, reference_probabilities(tensors, faces), atol=1e-5)


def test_action_units_equal_reference(classifier, tensors, faces):
    _, _, units = classifier.classify_many(faces)
    expected = ref.action_units(faces.astype(np.float64), tensors["reference"], tensors["neutral_shape"])
    np.testing.assert_allclose(units, expected, atol=1e-5)


SUBJECTS = np.repeat(["ann", "bob", "", "cy", None], 8).tolist()  # 40 faces, 8 each


def test_subjects_equal_the_reference_baselines(classifier, tensors, faces):
    """Each person's faces are read against the calm-weighted median of
    that person's aligned faces (weight min(1, n / 8)); unknown people
    against none."""
    emotions, _, units = classifier.classify_many(faces, subjects=SUBJECTS)
    plain, _, _ = classifier.classify_many(faces)
    baselines = np.repeat(tensors["neutral_shape"][None], 40, axis=0).astype(np.float64)
    weights = np.zeros(40)
    for name in ("ann", "bob", "cy"):
        rows = [i for i, s in enumerate(SUBJECTS) if s == name]
        baselines[rows], weights[rows] = ref.baseline(faces[rows], tensors["reference"],
                                                      ref.calm(plain[rows]))
    assert weights.tolist() == [1.0] * 16 + [0.0] * 8 + [1.0] * 8 + [0.0] * 8
    np.testing.assert_allclose(emotions, reference_probabilities(tensors, faces, baselines, weights),
                               atol=1e-5)
    np.testing.assert_allclose(units, ref.action_units(faces.astype(np.float64), tensors["reference"],
                                                       tensors["neutral_shape"], baselines, weights),
                               atol=1e-5)
    np.testing.assert_array_equal(emotions[16:24], plain[16:24])  # "" and None: no baseline
    np.testing.assert_array_equal(emotions[32:], plain[32:])
    assert np.abs(emotions[:16] - plain[:16]).max() > 1e-3


def test_a_few_faces_give_a_partly_trusted_baseline(classifier, tensors, faces):
    shape, weight = classifier.baseline(faces[:3])
    assert weight == pytest.approx(3 / 8)
    expected, _ = ref.baseline(faces[:3], tensors["reference"],
                               ref.calm(classifier.classify_many(faces[:3]).emotions))
    np.testing.assert_allclose(shape, expected, atol=1e-5)
    assert shape.shape == (68, 2) and shape.dtype == np.float32
    with pytest.raises(ValueError, match="at least one face"):
        classifier.baseline(np.zeros((0, 68, 2), np.float32))
    with pytest.raises(ValueError, match="points\\[1\\] refused"):
        classifier.baseline(np.stack([faces[0], np.full((68, 2), np.nan)]))


def test_a_person_at_rest_reads_neutral_against_their_own_baseline(classifier, tensors):
    """A resting face far from the population's (brows high, mouth a little
    open: what the population reads as surprise), seen eight times with
    small variations, reads more neutral against that person's baseline;
    the same person's smile still reads as happiness."""
    rng = np.random.default_rng(3)
    rest = tensors["neutral_shape"].astype(np.float64).copy()
    rest[17:27, 1] -= 0.08  # brows raised
    rest[[65, 66, 67, 56, 57, 58, 7, 8, 9], 1] += 0.06  # mouth a little open
    faces = np.array([posed(rest + rng.normal(0, 0.004, (68, 2)), 150, 0.0, (300, 300))
                      for _ in range(8)])
    plain, _, _ = classifier.classify_many(faces)
    own, _, _ = classifier.classify_many(faces, subjects=["p"] * 8)
    neutral = CLASSES.index("neutral")
    assert own[:, neutral].mean() > plain[:, neutral].mean() + 0.1, (plain.mean(0), own.mean(0))
    assert (own.argmax(axis=1) == neutral).mean() >= 0.75, own


def test_subjects_and_neutral_are_checked(classifier, faces):
    with pytest.raises(ValueError, match="subjects must hold one id per face"):
        classifier.classify_many(faces[:3], subjects=["a", "b"])
    with pytest.raises(ValueError, match="neutral or subjects"):
        classifier.classify_many(faces[:2], neutral=faces[:2], subjects=["a", "a"])
    with pytest.raises(ValueError, match=r"points\[1\] refused"):
        classifier.classify_many(np.stack([faces[0], np.zeros((68, 2))]), subjects=["a", "b"])
    with pytest.raises(ValueError, match=r"neutral\[1\] refused"):
        classifier.classify_many(faces[:2], neutral=np.stack([faces[0], np.zeros((68, 2))]))


def test_probabilities_sum_to_one_and_social_emotions_in_range(classifier, faces):
    emotions, social, _ = classifier.classify_many(faces)
    assert emotions.shape == (40, 7) and social.shape == (40, 3)
    np.testing.assert_allclose(emotions.sum(axis=1), 1, atol=1e-5)
    assert (emotions >= 0).all() and (social >= 0).all() and (social <= 1).all()
    np.testing.assert_array_equal(social[:, 0], emotions[:, CLASSES.index("happiness")])
    np.testing.assert_array_equal(social[:, 1], emotions[:, CLASSES.index("surprise")])


def test_batch_equals_one_at_a_time(classifier, faces):
    emotions, social, units = classifier.classify_many(faces)
    for i in (0, 15, 16, 39):  # either side of the core's 16-face batches
        one = classifier.classify(faces[i])
        np.testing.assert_allclose(list(one.emotions.values()), emotions[i], atol=1e-6)
        np.testing.assert_allclose(list(one.action_units.values()), units[i], atol=1e-6)
        assert one.confusion == pytest.approx(float(social[i, 2]), abs=1e-6)


def test_mirrored_face_scores_the_same(classifier, faces):
    emotions, social, units = classifier.classify_many(faces)
    flipped = np.array([mirrored(f) for f in faces])
    e2, s2, u2 = classifier.classify_many(flipped)
    np.testing.assert_allclose(e2, emotions, atol=1e-5)
    np.testing.assert_allclose(s2, social, atol=1e-5)
    np.testing.assert_allclose(u2, units, atol=1e-4)


def test_position_size_and_rotation_do_not_matter(classifier, tensors):
    shape = tensors["reference"] + 0.02 * np.sin(np.arange(136)).reshape(68, 2)
    a = classifier.classify(posed(shape, 80, 0.0, (200, 150)))
    b = classifier.classify(posed(shape, 250, 0.4, (900, 700)))
    np.testing.assert_allclose(list(a.emotions.values()), list(b.emotions.values()), atol=1e-4)
    np.testing.assert_allclose(list(a.action_units.values()), list(b.action_units.values()),
                               atol=1e-4)


def neutral_image_points(data_root, count=12):
    """Points our pipeline finds on Taiwanese-set images labelled neutral."""
    import csv

    from PIL import Image

    folder = data_root / "expressions"
    with open(folder / "labels.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] == "taiwanese" and r["label"] == "neutral"]
    points = []
    for row in rows[:count]:
        faces = mojofer.find_landmarks(np.asarray(Image.open(folder / row["image"]).convert("RGB")))
        if faces:
            points.append(max(faces, key=lambda f: f.box.w * f.box.h).landmarks)
    return np.array(points)


def test_neutral_faces_score_neutral(classifier, data_root):
    """Real neutral faces through the full pipeline (performers of the
    Taiwanese set; the model was trained on them, so this checks the
    plumbing end to end, not generalisation: see benchmarks/expressions.py)."""
    points = neutral_image_points(data_root)
    assert len(points) >= 10
    emotions, _, _ = classifier.classify_many(points)
    top = emotions.argmax(axis=1)
    assert (top == CLASSES.index("neutral")).mean() >= 0.7, [CLASSES[t] for t in top]


def test_action_units_against_own_neutral_are_zero(classifier, faces):
    out = classifier.classify(faces[3], neutral=faces[3])
    assert all(abs(v) < 1e-5 for v in out.action_units.values())
    assert out.confusion == 0.0


def test_a_neutral_face_is_a_fully_trusted_baseline(classifier, tensors, faces):
    emotions, _, _ = classifier.classify_many(faces[:4], neutral=faces[4:8])
    shapes = ref.align(faces[4:8], tensors["reference"])  # one face: its own shape
    np.testing.assert_allclose(emotions, reference_probabilities(tensors, faces[:4], shapes, np.ones(4)),
                               atol=1e-5)


def test_action_units_follow_the_geometry(classifier, tensors):
    neutral = posed(tensors["reference"], 120, 0.0, (300, 300))
    open_mouth = neutral.copy()
    open_mouth[[56, 57, 58, 65, 66, 67, 5, 6, 7, 8, 9, 10, 11], 1] += 0.15 * 120
    units = classifier.classify(open_mouth, neutral=neutral).action_units
    assert units["lips_part"] == pytest.approx(0.15, abs=1e-3)
    assert units["jaw_drop"] == pytest.approx(0.15, abs=1e-3)
    assert abs(units["brow_lowerer"]) < 1e-4
    frown = neutral.copy()
    frown[[19, 20, 21, 22, 23, 24], 1] += 0.1 * 120  # brows down
    frown[[21], 0] += 0.03 * 120  # and together
    frown[[22], 0] -= 0.03 * 120
    out = classifier.classify(frown, neutral=neutral)
    assert out.action_units["brow_lowerer"] == pytest.approx((0.1 + 0.06) / 2, abs=1e-3)
    assert out.confusion > 0.5
    closed = neutral.copy()
    closed[[37, 38, 43, 44], 1] = neutral[[41, 40, 47, 46], 1]  # upper lids onto lower
    assert classifier.classify(closed, neutral=neutral).action_units["eye_closure"] == \
        pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("bad, message", [
    (np.full((68, 2), np.nan), "finite"),
    (np.full((68, 2), np.inf), "finite"),
    (np.full((68, 2), 1e9), "1e6"),
    (np.zeros((68, 2)), "eye corners"),
])
def test_bad_points_rejected(classifier, bad, message):
    with pytest.raises(ValueError, match=message):
        classifier.classify(bad)


def test_one_bad_face_in_a_batch_is_rejected(classifier, faces):
    batch = faces.copy()
    batch[7, 30, 0] = np.nan
    with pytest.raises(ValueError, match="points"):
        classifier.classify_many(batch)


@pytest.mark.parametrize("bad", [np.zeros((68, 3)), np.zeros((67, 2)), np.zeros(136),
                                 np.zeros((2, 2, 68, 2))])
def test_bad_shapes_rejected(classifier, bad):
    with pytest.raises((ValueError, TypeError), match="points"):
        classifier.classify_many(bad)


def test_wrong_types_and_neutral_count(classifier, faces):
    with pytest.raises(TypeError, match="points"):
        classifier.classify_many("not points")
    with pytest.raises(ValueError, match="neutral"):
        classifier.classify_many(faces[:3], neutral=faces[:2])


def test_wrong_model_kind(tmp_path):
    with pytest.raises(mojofer.ModelError):
        mojofer.ExpressionClassifier(model_path("landmarks.mfm"))


def test_threads_share_nothing_but_agree(classifier, faces):
    expected, _, _ = classifier.classify_many(faces)
    results = []

    def work():
        results.append(classifier.classify_many(faces)[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, expected)


def test_trainer_is_seeded_and_writes_a_loadable_model(tmp_path, tensors):
    """A small synthetic problem: the class shows in the mouth opening."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(7), 30)
    points = []
    for label in labels:
        shape = tensors["reference"] + rng.normal(0, 0.01, (68, 2))
        shape[[56, 57, 58, 65, 66, 67], 1] += 0.04 * label
        points.append(posed(shape, 100, rng.uniform(-0.2, 0.2), (300, 300)))
    # half the faces from ten named people (real baselines), half unnamed
    # (simulated ones)
    subjects = np.where(np.arange(len(labels)) % 2, "", np.char.add("p", (np.arange(len(labels)) % 10).astype(str)))
    data = ExpressionSet([None] * len(labels), np.array(["x"] * len(labels)),
                         subjects, labels, np.array(points, np.float32))
    settings = training.Settings(epochs=40, hidden=(32,), jitter=0.0)  # the signal is 0.04 a class
    first, second = training.fit(data, settings), training.fit(data, settings)
    for (w1, b1), (w2, b2) in zip(first.layers, second.layers):
        np.testing.assert_array_equal(w1, w2)
    path = write_model(tmp_path / "e.mfm", "expressions", first.tensors())
    classifier = mojofer.ExpressionClassifier(path)
    emotions, _, _ = classifier.classify_many(data.points)
    np.testing.assert_allclose(emotions, first.probabilities(data.points), atol=1e-5)
    assert (emotions.argmax(axis=1) == labels).mean() > 0.8
    named = data.subjects != ""
    with_baseline, _, _ = classifier.classify_many(data.points[named], subjects=data.subjects[named])
    assert (with_baseline.argmax(axis=1) == labels[named]).mean() > 0.8


def test_weighted_median():
    values = np.array([[3.0, 1.0], [1.0, 2.0], [2.0, 3.0]])
    np.testing.assert_array_equal(ref.weighted_median(values, np.array([1.0, 1.0, 1.0])), [2.0, 2.0])
    # the calm face's values win: 0.1 + 0.2 < half of 1.3 on either side
    np.testing.assert_array_equal(ref.weighted_median(values, np.array([1.0, 0.1, 0.2])), [3.0, 1.0])
    np.testing.assert_array_equal(ref.weighted_median(values[:2], np.array([1.0, 1.0])), [1.0, 1.0])


def test_training_baselines(tensors):
    """A named person (two faces or more) with neutral faces: the median of
    those; without any: the calm-weighted median of all their faces, weight
    n / 8; an unnamed neutral face is its own baseline; an unnamed other face
    gets its source's nearest neutral face."""
    rng = np.random.default_rng(0)
    ref_shape = tensors["reference"].astype(np.float64)
    shapes = np.array([ref_shape + rng.normal(0, 0.01, (68, 2)) for _ in range(8)])
    labels = np.array([0, 1, 2, 1, 2, 0, 1, 0])
    subjects = np.array(["a", "a", "a", "b", "b", "", "", "solo"])
    data = ExpressionSet([None] * 8, np.array(["s"] * 8), subjects, labels, shapes.astype(np.float32))
    aligned = ref.align(data.points, ref_shape)
    calmness = np.array([np.nan, np.nan, np.nan, 0.9, 0.2, np.nan, np.nan, np.nan])
    baselines, weights = training.training_baselines(data, aligned, tensors["neutral_shape"], calmness,
                                                     training.Settings(resting_share=1.0), rng)
    np.testing.assert_allclose(baselines[:3], aligned[[0, 0, 0]], atol=1e-6)  # a's neutral face
    expected = ref.weighted_median(aligned[3:5].astype(np.float32), calmness[3:5])
    np.testing.assert_allclose(baselines[3:5], expected[None].repeat(2, 0), atol=1e-6)
    np.testing.assert_allclose(baselines[3:5], aligned[[3, 3]], atol=1e-6)  # the calmer face wins
    np.testing.assert_allclose(weights[3:5], 2 / 8)
    np.testing.assert_allclose(baselines[5], aligned[5], atol=1e-6)  # unnamed neutral: itself
    np.testing.assert_allclose(baselines[7], aligned[7], atol=1e-6)  # one face of a name: unnamed
    nearest = min((5, 7), key=lambda j: np.sum((aligned[6, training.IDENTITY_POINTS]
                                                 - aligned[j, training.IDENTITY_POINTS]) ** 2))
    np.testing.assert_allclose(baselines[6], aligned[nearest], atol=1e-6)
    simulated = np.r_[0:3, 5:8]
    assert ((weights[simulated] >= 0.25) & (weights[simulated] <= 1.0)).all()
    # a share of 0.5: each of a's faces gets the one or the other
    calm_median = ref.weighted_median(aligned[:3].astype(np.float32), np.ones(3, np.float32))
    calmness[:3] = 1.0
    both, _ = training.training_baselines(data, aligned, tensors["neutral_shape"], calmness,
                                          training.Settings(resting_share=0.5), rng)
    for face in both[:3]:
        assert np.allclose(face, aligned[0], atol=1e-6) or np.allclose(face, calm_median, atol=1e-6)

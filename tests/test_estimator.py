"""Estimator: keypoints in, estimates out. It matches a Python reference of
the per-face rules (pose, expression, person baseline, smoothing, cues, lost
faces and their grace period), matches what the Analyzer reports for the
same keypoints, and leaves its state untouched when it refuses a frame."""
import dataclasses
import math

import numpy as np
import pytest

import mojofer
from mojofer.cues import CueEvent, Cues
from mojofer.models import model_path
from mojofer.modelfile import read_model
from mojofer.train import expression_reference as expression_ref

BACKGROUND = 90
FACE = (slice(40, 230), slice(140, 310))


@pytest.fixture(scope="module")
def points(astronaut):
    faces = mojofer.find_landmarks(astronaut)
    assert len(faces) == 1
    return faces[0].landmarks.astype(np.float32)


def moved(points, dx=0.0, dy=0.0, mouth=0.0, turn=0.0):
    """The face shifted, with its mouth opened and squeezed sideways (a crude turn)."""
    p = points.copy()
    p[57:60, 1] += mouth
    p[65:, 1] += mouth
    centre = p[:, 0].mean()
    p[:, 0] = centre + (p[:, 0] - centre) * (1 - turn)
    p[:, 0] += dx
    p[:, 1] += dy
    return p


class ReferenceBaseline:
    """A face's person baseline as mojofer.h states it: 8 stretches of the
    window, each the calm-weighted mean of its aligned shapes, and their
    calm-weighted median; weight = seconds fed (each frame at most 0.5 s)
    over 3; only frames within +-25 degrees of yaw and pitch."""

    def __init__(self, window, reference):
        self.window, self.reference = window, reference
        self.kept = []  # finished stretches (shape, calm), the last 8
        self.sum, self.calm, self.block_seconds = np.zeros(136), 0.0, 0.0
        self.seconds, self.fed_at = 0.0, None
        self.shape, self.weight = np.zeros((68, 2), np.float32), 0.0

    def feed(self, t, points, pose, plain_emotions):
        if self.window == 0 or abs(pose.yaw) > 25 or abs(pose.pitch) > 25:
            return
        step = 0.0 if self.fed_at is None else min(t - self.fed_at, 0.5)
        calm = float(np.float32(plain_emotions[0]) + np.float32(expression_ref.MIN_CALM))
        aligned = expression_ref.align(points, self.reference).astype(np.float32).reshape(-1)
        self.fed_at, self.seconds, self.block_seconds = t, self.seconds + step, self.block_seconds + step
        self.sum += calm * aligned.astype(np.float64)
        self.calm += calm
        filling = ((self.sum / self.calm).astype(np.float32), np.float32(self.calm))
        blocks = self.kept + [filling]
        self.shape = expression_ref.weighted_median(np.stack([b[0] for b in blocks]),
                                                    np.array([b[1] for b in blocks])).reshape(68, 2)
        self.weight = min(1.0, self.seconds / 3.0)
        if self.block_seconds >= self.window / 8:
            self.kept = (self.kept + [filling])[-8:]
            self.sum, self.calm, self.block_seconds = np.zeros(136), 0.0, 0.0


class Reference:
    """The Analyzer's per-face rules before they moved into C, kept here in
    Python as the estimator's specification (the person baseline added)."""

    def __init__(self, smoothing=0.2, grace=8.0, cues=None, baseline=60.0):
        self.smoothing, self.grace, self.baseline = smoothing, grace, baseline
        self.params = cues or mojofer.CueParams()
        self.pose, self.expressions = mojofer.HeadPose(), mojofer.ExpressionClassifier()
        self.reference = read_model(model_path("expressions.mfm"))[1]["reference"]
        self.tracks = {}

    def update(self, t, faces):
        events, results = [], []
        if faces:
            stack = np.stack([lm for _, lm in faces])
            known = [self.tracks.get(fid) for fid, _ in faces]
            shapes = np.stack([tr["baseline"].shape if tr else np.zeros((68, 2), np.float32) for tr in known])
            weights = np.array([tr["baseline"].weight if tr else 0.0 for tr in known], np.float32)
            emotions, social, units = self.expressions._classifier.classify(stack, shapes, weights)
            plain = self.expressions.classify_many(stack).emotions
        for i, (fid, lm) in enumerate(faces):
            tr = self.tracks.get(fid)
            if tr is None:
                tr = self.tracks[fid] = {"cues": Cues(self.params), "smoothed": None, "lost_at": None,
                                         "baseline": ReferenceBaseline(self.baseline, self.reference)}
                events.append(CueEvent(t, "face", "absent", "visible", fid))
            elif tr["lost_at"] is not None:
                events.append(CueEvent(t, "face", "lost", "visible", fid))
                tr["lost_at"] = None
            tr["pose"] = self.pose.estimate(lm)
            tr["baseline"].feed(t, lm, tr["pose"], plain[i])
            values = np.concatenate([emotions[i], social[i], units[i]])
            if tr["smoothed"] is None or self.smoothing == 0:
                tr["smoothed"] = values.astype(np.float64)
            else:
                alpha = 1 - math.exp(-(t - tr["smoothed_at"]) / self.smoothing)
                tr["smoothed"] = tr["smoothed"] + alpha * (values - tr["smoothed"])
            tr["smoothed_at"] = t
            state, ev = tr["cues"].update(t, tr["pose"])
            events += [dataclasses.replace(e, face_id=fid) for e in ev]
            results.append((fid, True, tr, state))
        given = {fid for fid, _ in faces}
        for fid, tr in list(self.tracks.items()):
            if fid in given:
                continue
            if tr["lost_at"] is None:
                tr["lost_at"] = t
                events.append(CueEvent(t, "face", "visible", "lost", fid))
            state, ev = tr["cues"].update(t, None)
            events += [dataclasses.replace(e, face_id=fid) for e in ev]
            # retired once the grace is over and the cues are back in idle
            if t - tr["lost_at"] >= self.grace and state.status == "idle":
                idle_at = [e.timestamp for e in ev if e.kind == "status" and e.to_state == "idle"]
                events.append(CueEvent(max([tr["lost_at"] + self.grace] + idle_at), "face", "lost", "retired", fid))
                del self.tracks[fid]
                continue
            results.append((fid, False, tr, state))
        events.sort(key=lambda e: (e.timestamp, e.face_id))
        return results, events


def assert_same(estimates, events, ref_results, ref_events):
    assert [(e.id, e.visible) for e in estimates] == [(r[0], r[1]) for r in ref_results]
    for e, (_, _, tr, state) in zip(estimates, ref_results):
        assert e.pose.as_tuple() == pytest.approx(tr["pose"].as_tuple(), abs=1e-4)
        mine = [*e.emotions.values(), e.amusement, e.surprise, e.confusion, *e.action_units.values()]
        np.testing.assert_allclose(mine, tr["smoothed"], atol=1e-5)
        assert e.attention == pytest.approx(state.attention, abs=1e-12)
        assert (e.engagement, e.status) == (state.engagement, state.status)
    assert [(e.kind, e.from_state, e.to_state, e.face_id) for e in events] == \
        [(e.kind, e.from_state, e.to_state, e.face_id) for e in ref_events]
    assert [e.timestamp for e in events] == pytest.approx([e.timestamp for e in ref_events], abs=1e-9)


def scenario(points):
    """Two faces: B leaves for 3 s and comes back, A leaves for good, C arrives."""
    a = lambda i: moved(points, dx=-3 * i, mouth=(i % 7) * 1.5)
    b = lambda i: moved(points, dx=400 + 2 * i, dy=20, turn=0.02 * (i % 20))
    frames = []
    for i in range(120):  # 10 fps
        t = i / 10
        faces = []
        if t < 6.0:
            faces.append((0, a(i)))
        if not 2.0 <= t < 5.0:
            faces.append((1, b(i)))
        if t >= 8.0:
            faces.append((5, moved(points, dy=-30)))
        frames.append((t, faces))
    frames.append((30.0, [(1, b(0))]))  # a long gap: A retired with its grace period's end
    return frames


def test_matches_the_reference(points):
    est, ref = mojofer.Estimator(), Reference()
    kinds = set()
    for t, faces in scenario(points):
        estimates, events = est.update(t, [(fid, lm, None) for fid, lm in faces])
        ref_results, ref_events = ref.update(t, faces)
        assert_same(estimates, events, ref_results, ref_events)
        kinds |= {(e.from_state, e.to_state) for e in events if e.kind == "face"}
    assert kinds == {("absent", "visible"), ("visible", "lost"), ("lost", "visible"), ("lost", "retired")}


@pytest.mark.parametrize("smoothing, grace, baseline", [(0.0, 8.0, 60.0), (1.0, 0.0, 4.0),
                                                       (0.05, 2.5, 0.0)])
def test_matches_the_reference_with_other_parameters(points, smoothing, grace, baseline):
    cues = mojofer.CueParams(attention_tau=0.1, engage_after=0.5)
    est = mojofer.Estimator(smoothing, grace, cues, baseline=baseline or None)
    ref = Reference(smoothing, grace, cues, baseline)
    for t, faces in scenario(points):
        estimates, events = est.update(t, [{"id": fid, "landmarks": lm} for fid, lm in faces])
        assert_same(estimates, events, *ref.update(t, faces))


def test_lost_face_timing(points):
    est = mojofer.Estimator(grace=2.0)
    est.update(0.0, [(3, points, None)])
    estimates, events = est.update(1.0, [])
    assert [(e.id, e.visible) for e in estimates] == [(3, False)]
    assert ("face", "visible", "lost", 3, 1.0) in [(e.kind, e.from_state, e.to_state, e.face_id, e.timestamp) for e in events]
    assert est.lost() == [3]
    estimates, _ = est.update(2.999, [])
    assert [e.id for e in estimates] == [3]
    # its grace ends at 3.0, but its cues went ready (engage_after, due at
    # 1.0) and then disengaging at 1.0: kept until they are idle, at 9.0
    estimates, events = est.update(3.5, [])
    assert [(e.id, e.status) for e in estimates] == [(3, "in_short_interruption")]
    assert est.lost() == [3] and events == []
    estimates, events = est.update(9.5, [])
    assert estimates == [] and est.lost() == []
    assert [(e.timestamp, e.kind, e.from_state, e.to_state) for e in events] == [
        (4.0, "status", "in_short_interruption", "in_long_interruption"),
        (9.0, "engagement", "disengaging", "idle"),
        (9.0, "status", "in_long_interruption", "idle"),
        (9.0, "face", "lost", "retired")]
    # a face whose cues are idle before its grace ends is retired at its end
    est.update(10.0, [(4, points, (80.0, 0.0, 0.0))])  # looking away: stays idle
    est.update(11.0, [])
    _, events = est.update(20.0, [])
    assert [(e.timestamp, e.to_state) for e in events] == [(13.0, "retired")]


def test_given_pose_is_used(points):
    est = mojofer.Estimator()
    (e,), _ = est.update(0.0, [(1, points, mojofer.Pose(50.0, -4.0, 2.0))])
    assert e.pose == mojofer.Pose(50.0, -4.0, 2.0) and e.attention == 0.0
    (e,), _ = est.update(0.1, [(1, points, (0.0, 0.0, 0.0))])
    assert e.pose.yaw == 0.0


def test_refusals_leave_the_state_untouched(points):
    est, twin = mojofer.Estimator(max_faces=3), mojofer.Estimator(max_faces=3)
    good = [(0, points, None), (1, moved(points, dx=300), None)]
    est.update(1.0, good)
    twin.update(1.0, good)
    nan = points.copy()
    nan[10, 0] = np.nan
    flat = np.zeros((68, 2), np.float32)
    with pytest.raises(ValueError, match="given twice"):
        est.update(2.0, [(0, points, None), (0, points, None)])
    with pytest.raises(ValueError, match=r"^face \d \(id \d\): "):
        est.update(2.0, [(0, points, None), (1, nan, None)])
    with pytest.raises(ValueError, match=r"^face \d \(id \d\): "):
        est.update(2.0, [(0, flat, None)])
    with pytest.raises(ValueError, match=r"^face \d \(id \d\): "):
        est.update(2.0, [(0, points, (0.0, 400.0, 0.0))])
    with pytest.raises(ValueError, match="before the previous"):
        est.update(0.5, good)
    with pytest.raises(ValueError, match="finite"):
        est.update(float("nan"), good)
    with pytest.raises(ValueError, match="max_faces"):
        est.update(2.0, [(i, moved(points, dx=100 * i), None) for i in range(4)])
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        est.update(2.0, [(0, points[:10], None)])
    with pytest.raises(TypeError, match="face_id"):
        est.update(2.0, [("a", points, None)])
    with pytest.raises(TypeError):
        est.update(2.0, [(0, points)])
    assert est.update(2.5, good[1:]) == twin.update(2.5, good[1:])


def test_bad_parameters():
    with pytest.raises(ValueError, match="smoothing"):
        mojofer.Estimator(smoothing=-1)
    with pytest.raises(ValueError, match="grace"):
        mojofer.Estimator(grace=float("inf"))
    with pytest.raises(ValueError, match="max_faces"):
        mojofer.Estimator(max_faces=0)
    with pytest.raises(ValueError):
        mojofer.Estimator(cues=mojofer.CueParams(attention_low=0.9))


def test_reset(points):
    est = mojofer.Estimator()
    est.update(5.0, [(1, points, None)])
    est.reset()
    _, events = est.update(0.0, [(1, points, None)])
    assert (events[0].kind, events[0].from_state) == ("face", "absent")


def test_same_as_the_analyzer(astronaut, detector, landmarker):
    """The Analyzer's estimates are the Estimator's on the Analyzer's keypoints."""
    head = astronaut[FACE]
    analyzer = mojofer.Analyzer(detector=detector, landmarker=landmarker, detect_every=5, grace=1.0)
    est = mojofer.Estimator(grace=1.0)
    for i in range(40):
        frame = np.full((480, 900, 3), BACKGROUND, np.uint8)
        if not 10 <= i < 15 and i < 30:
            x = 100 + 8 * i
            frame[100:290, x:x + 170] = head
        t = i / 10
        r = analyzer.process(frame, t)
        estimates, events = est.update(t, [(f.id, f.landmarks, None) for f in r.faces if f.visible])
        assert events == r.events
        assert len(estimates) == len(r.faces)
        for e, f in zip(estimates, r.faces):
            fields = {k: v for k, v in dataclasses.asdict(f).items() if k not in ("box", "landmarks", "quality")}
            assert dataclasses.asdict(e) == fields


def test_a_new_face_retires_the_one_lost_longest_ago(points):
    est = mojofer.Estimator(max_faces=2)
    est.update(0.0, [(1, points, None), (2, moved(points, dx=300), None)])
    est.update(1.0, [(2, moved(points, dx=300), None)])
    est.update(2.0, [])
    assert est.lost() == [1, 2]
    estimates, events = est.update(3.0, [(3, moved(points, dx=-300), None)])
    assert [(e.id, e.visible) for e in estimates] == [(3, True), (2, False)]
    assert CueEvent(3.0, "face", "lost", "retired", 1) in events


def resting_face_shape(points, raise_brows=0.0, open_mouth=0.0):
    """The face with its brows raised and mouth opened by fractions of the
    outer-eye-corner distance (a resting face unlike the population's)."""
    p = points.copy()
    eyes = np.linalg.norm(p[45] - p[36])
    p[17:27, 1] -= raise_brows * eyes
    p[[56, 57, 58, 65, 66, 67, 5, 6, 7, 8, 9, 10, 11], 1] += open_mouth * eyes
    return p


def test_without_a_baseline_every_frame_reads_as_alone(points):
    est = mojofer.Estimator(smoothing=0.0, baseline=None)
    classifier = mojofer.ExpressionClassifier()
    for i in range(40):
        face = resting_face_shape(points, raise_brows=0.002 * i)
        (e,), _ = est.update(i / 10, [(1, face, None)])
        np.testing.assert_allclose(list(e.emotions.values()),
                                   list(classifier.classify(face).emotions.values()), atol=1e-6)


def settled(est, face, start=0.0, seconds=5.0, face_id=1, fps=10):
    """`seconds` of the same face (a little jitter, seeded) from `start`: the last estimate."""
    rng = np.random.default_rng(face_id)
    for i in range(int(seconds * fps)):
        (e, *_), _ = est.update(start + i / fps, [(face_id, face + rng.normal(0, 0.3, face.shape).astype(np.float32), None)])
    return e


def test_a_baseline_is_the_faces_own_and_ends_with_it(points):
    """A face's baseline settles in a few seconds; a lost face within its
    grace keeps it; a retired face, a reclaimed id and reset() start
    afresh (the first frame reads as without a baseline)."""
    face = resting_face_shape(points, raise_brows=0.06, open_mouth=0.05)
    plain = mojofer.ExpressionClassifier().classify(face).emotions
    first = lambda e: np.testing.assert_allclose(list(e.emotions.values()), list(plain.values()), atol=1e-6)
    est = mojofer.Estimator(smoothing=0.0, grace=1.0)
    twin = mojofer.Estimator(smoothing=0.0, grace=1.0)  # never loses the face
    for e in (est, twin):
        (x,), _ = e.update(0.0, [(1, face, None)])
        first(x)
        settled(e, face, 0.1, 4.0)
    est.update(4.5, [])  # lost, within its grace: the baseline stays
    (back, *_), _ = est.update(4.6, [(1, face, None)])
    (kept,), _ = twin.update(4.6, [(1, face, None)])
    np.testing.assert_allclose(list(back.emotions.values()), list(kept.emotions.values()), atol=1e-6)
    assert np.abs(np.subtract(list(back.emotions.values()), list(plain.values()))).max() > 1e-3
    est.update(5.0, [])
    est.update(20.0, [])  # retired
    (e,), _ = est.update(20.1, [(1, face, None)])
    first(e)
    settled(est, face, 20.2, 4.0)
    est.reset()
    (e,), _ = est.update(0.0, [(1, face, None)])
    first(e)
    # max_faces 1: a new face reclaims the slot; the old id comes back new
    one = mojofer.Estimator(smoothing=0.0, max_faces=1)
    settled(one, face, 0.0, 4.0)
    one.update(4.0, [(2, points, None)])
    (e,), _ = one.update(4.1, [(1, face, None)])
    first(e)


def test_a_turned_head_does_not_feed_the_baseline(points):
    est = mojofer.Estimator(smoothing=0.0)
    face = resting_face_shape(points, raise_brows=0.06, open_mouth=0.05)
    for i in range(40):  # 4 s looking 40 degrees aside
        est.update(i / 10, [(1, face, (40.0, 0.0, 0.0))])
    (e,), _ = est.update(4.0, [(1, face, (0.0, 0.0, 0.0))])
    plain = mojofer.ExpressionClassifier().classify(face).emotions
    np.testing.assert_allclose(list(e.emotions.values()), list(plain.values()), atol=1e-6)


def test_baseline_parameter_is_checked():
    with pytest.raises(ValueError, match="baseline_window"):
        mojofer.Estimator(baseline=-1.0)
    with pytest.raises(ValueError, match="baseline_window"):
        mojofer.Estimator(baseline=float("inf"))
    with pytest.raises(TypeError, match="baseline"):
        mojofer.Estimator(baseline="60")
    assert mojofer.Estimator(baseline=None).baseline == 0.0
    assert mojofer.Analyzer(baseline=10.0).estimator.baseline == 10.0

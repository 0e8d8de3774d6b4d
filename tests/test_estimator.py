"""Estimator: keypoints in, estimates out. It matches a Python reference of
the per-face rules (pose, expression, smoothing, cues, lost faces and their
grace period), matches what the Analyzer reports for the same keypoints,
and leaves its state untouched when it refuses a frame."""
import dataclasses
import math

import numpy as np
import pytest

import mojofer
from mojofer.cues import CueEvent, Cues

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


class Reference:
    """The Analyzer's per-face rules before they moved into C, kept here in
    Python as the estimator's specification."""

    def __init__(self, smoothing=0.2, grace=8.0, cues=None):
        self.smoothing, self.grace = smoothing, grace
        self.params = cues or mojofer.CueParams()
        self.pose, self.expressions = mojofer.HeadPose(), mojofer.ExpressionClassifier()
        self.tracks = {}

    def update(self, t, faces):
        events, results = [], []
        if faces:
            emotions, social, units = self.expressions.classify_many(np.stack([lm for _, lm in faces]))
        for i, (fid, lm) in enumerate(faces):
            tr = self.tracks.get(fid)
            if tr is None:
                tr = self.tracks[fid] = {"cues": Cues(self.params), "smoothed": None, "lost_at": None}
                events.append(CueEvent(t, "face", "absent", "visible", fid))
            elif tr["lost_at"] is not None:
                events.append(CueEvent(t, "face", "lost", "visible", fid))
                tr["lost_at"] = None
            tr["pose"] = self.pose.estimate(lm)
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
        np.testing.assert_allclose(mine, tr["smoothed"], atol=1e-6)
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


@pytest.mark.parametrize("smoothing, grace", [(0.0, 8.0), (1.0, 0.0), (0.05, 2.5)])
def test_matches_the_reference_with_other_parameters(points, smoothing, grace):
    cues = mojofer.CueParams(attention_tau=0.1, engage_after=0.5)
    est, ref = mojofer.Estimator(smoothing, grace, cues), Reference(smoothing, grace, cues)
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

"""The binding (mojofer/_core/): structured results instead of positional
tuples, and the converters every type shares giving one message."""
import numpy as np
import pytest

import mojofer
from mojofer import _core
from mojofer.cues import ENGAGEMENT_PHASES, INTERACTION_STATUSES
from mojofer.models import model_path


@pytest.fixture(scope="module")
def points(astronaut):
    return mojofer.find_landmarks(astronaut)[0].landmarks


@pytest.fixture(scope="module")
def models():
    return _core.Model(model_path("pose.mfm")), _core.Model(model_path("expressions.mfm"))


def arrays(points, n=1):
    return (np.arange(n, dtype=np.int32), np.repeat(points[None], n, 0), np.zeros((n, 3), np.float32),
            np.ones(n, bool))


def test_estimates_and_events_are_named(points, models):
    est = _core.Estimator(*models, 0.0, 8.0, 4, {})
    faces, events = est.update(0.0, *arrays(points))
    e = faces[0]
    assert isinstance(e, _core.Estimate)
    assert (e.id, e.visible, e.pose) == (0, True, (0.0, 0.0, 0.0))
    assert list(e.emotions) == list(mojofer.EMOTIONS) and list(e.action_units) == list(mojofer.ACTION_UNITS)
    assert e.engagement in ENGAGEMENT_PHASES and e.status in INTERACTION_STATUSES
    assert e.raw_attention == pytest.approx(1.0) and e.status_time == 0.0
    assert events and all(isinstance(ev, _core.Event) and ev.face_id == 0 for ev in events)
    assert events[0].kind == "face" and (events[0].from_state, events[0].to_state) == ("absent", "visible")


def test_cue_state_and_expressions_are_named(points, models):
    state, events = _core.Cues().update(0.0, (0.0, 0.0, 0.0))
    assert isinstance(state, _core.CueState) and state.status == "possible" and state.engagement == "engaging"
    assert [(ev.kind, ev.to_state, ev.face_id) for ev in events][-1] == ("status", "possible", None)
    r = _core.ExpressionClassifier(models[1]).classify(np.stack([points, points]))
    assert isinstance(r, _core.Expressions)
    assert (r.emotions.shape, r.social.shape, r.action_units.shape) == ((2, 7), (2, 3), (2, 9))


def test_one_converter_one_message(points, models):
    """The cue parameters and the keypoint frames are read by one converter each,
    so the Cues, the Estimator and the server say the same."""
    for make in (lambda: _core.Cues(speed=1.0), lambda: _core.Estimator(*models, 0.0, 8.0, 4, {"speed": 1.0})):
        with pytest.raises(TypeError, match="unknown parameter 'speed' of the cues"):
            make()
    est = _core.Estimator(*models, 0.0, 8.0, 2, {})
    ids, pts, poses, has = arrays(points, 3)
    with pytest.raises(ValueError, match="update: 3 faces in one frame, more than max_faces = 2"):
        est.update(0.0, ids, pts, poses, has)
    with pytest.raises(ValueError, match="wire_encode_frame needs ids"):
        _core.wire_encode_frame(0, 0.0, ids, pts[:2], poses, has)

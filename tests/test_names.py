"""Each name and constant is defined once, in the C core, and Python reads it
from there; validation rules live in C and their problems reach Python as written."""
import dataclasses

import numpy as np
import pytest

import mojofer
from mojofer import _core, client, cues, expressions, wire
from mojofer.train import expression_data, expression_reference


def test_names_come_from_the_core():
    assert _core.EMOTIONS == ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger")
    assert len(_core.ACTION_UNITS) == 9 and _core.ACTION_UNITS[0] == "brow_raise_inner"
    assert _core.ENGAGEMENT_PHASES == ("idle", "engaging", "engaged", "disengaging")
    assert _core.INTERACTION_STATUSES == ("idle", "possible", "ready", "in_short_interruption",
                                          "in_long_interruption")
    assert _core.EVENT_KINDS == ("engagement", "status", "face")
    assert _core.FACE_STATES == ("absent", "visible", "lost", "retired")
    # the Python modules and the trainer hold the core's tuples, not copies
    assert expressions.EMOTIONS is _core.EMOTIONS and expressions.ACTION_UNITS is _core.ACTION_UNITS
    assert expression_data.CLASSES is _core.EMOTIONS
    assert expression_reference.ACTION_UNITS is _core.ACTION_UNITS
    assert cues.ENGAGEMENT_PHASES is _core.ENGAGEMENT_PHASES
    assert cues.INTERACTION_STATUSES is _core.INTERACTION_STATUSES


def test_wire_and_client_codes_come_from_the_core():
    assert wire.PROTOCOL == _core.WIRE_PROTOCOL == "mojofer.v1"
    assert wire.MAX_REASON == _core.WIRE_MAX_REASON == 256
    assert {c.name: int(c) for c in wire.ErrorCode} == _core.WIRE_ERROR_CODES == {
        "MALFORMED": 4007, "SCHEMA": 4009, "TYPE": 4010, "TOO_MANY": 4011, "INVALID": 4012, "INTERNAL": 4013}
    assert (client.QUEUE_FULL, client.CLOSED) == (_core.CLIENT_QUEUE_FULL, _core.CLIENT_CLOSED) == (4100, 4101)


def test_cue_parameters_are_checked_by_the_core():
    assert _core.cues_params_check(_core.cues_defaults()) is None
    with pytest.raises(ValueError, match="^invalid cue parameters: engage_after must be > 0 seconds$"):
        _core.cues_params_check({"engage_after": 0.0})
    # where the parameters are made, with the core's words
    with pytest.raises(ValueError, match="^invalid cue parameters: need 0 <= attention_low < attention_high <= 1$"):
        mojofer.CueParams(attention_low=0.9)


def test_timestamp_problem_is_the_cores(astronaut):
    """The Estimator says what the core (and so the server) says, word for word."""
    points = mojofer.find_landmarks(astronaut)[0].landmarks
    est = mojofer.Estimator()
    est.update(1.0, [(0, points, None)])
    with pytest.raises(ValueError) as refused:
        est.update(0.5, [(0, points, None)])
    assert str(refused.value) == "timestamp 0.5 is before the previous 1: timestamps must not decrease"
    with pytest.raises(ValueError, match="^timestamp nan is not finite$"):
        est.update(float("nan"), [(0, points, None)])

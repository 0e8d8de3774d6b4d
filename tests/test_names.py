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
    assert _core.SOCIAL_EMOTIONS == ("amusement", "surprise", "confusion")
    assert expressions.SOCIAL_EMOTIONS is _core.SOCIAL_EMOTIONS
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


def test_expressions_model_records_its_names_and_the_loader_checks_them():
    from mojofer.models import model_path
    from mojofer.modelfile import encode_model, names_of, names_tensor, read_model

    kind, tensors = read_model(model_path("expressions.mfm"))
    assert names_of(tensors["emotion_names"]) == _core.EMOTIONS
    assert names_of(tensors["action_unit_names"]) == _core.ACTION_UNITS
    assert tensors["emotion_names"].dtype == np.int32 and bytes(tensors["emotion_names"].astype(np.uint8)) \
        == b"neutral\0happiness\0sadness\0surprise\0fear\0disgust\0anger\0"

    def classifier(**changed):
        model = _core.Model(encode_model(kind, {**tensors, **changed}))
        return _core.ExpressionClassifier(model)

    classifier()
    for names in (_core.EMOTIONS[::-1], _core.EMOTIONS[:-1], _core.EMOTIONS + ("contempt",)):
        with pytest.raises(_core.ModelError, match="names differ from the core's"):
            classifier(emotion_names=names_tensor(names))
    with pytest.raises(_core.ModelError, match="names differ from the core's"):
        classifier(action_unit_names=names_tensor(("brow_raise",) + _core.ACTION_UNITS[1:]))
    del tensors["action_unit_names"]
    with pytest.raises(_core.ModelError, match="lacks a required tensor"):
        classifier()

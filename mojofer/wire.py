"""The streaming protocol's messages (docs/protocol.md), encoded and decoded
by the C core (csrc/stream/wire.c), the same code the server and the client run.

    data = wire.encode_frame(seq, keypoint_frame)      # or (seq, t, [(face_id, landmarks, None)])
    message = wire.decode(data)          # Frame, EstimateMessage or Error
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Optional, Union

from . import _core
from .cues import CueEvent
from .estimator import Estimate, _arrays, _estimate, frame_parts
from .keypoints import KeypointFace, KeypointFrame
from .pose import Pose

PROTOCOL = _core.WIRE_PROTOCOL
MAX_REASON = _core.WIRE_MAX_REASON  # bytes of an error's reason

# Codes of error messages about a message's content (mf_wire_code in
# mojofer.h, docs/protocol.md); they share one numbering with the transport's
# close codes. MALFORMED: not one msgpack map, truncated, or bytes after it;
# SCHEMA: a key missing, unknown or repeated, or a value of the wrong type;
# TYPE: "t" names no message this end accepts; TOO_MANY: more faces (or
# events) than allowed; INVALID: values refused (landmarks, pose, duplicate
# ids, timestamp); INTERNAL: the server failed to estimate.
# (its members are the core's, which mypy cannot list)
ErrorCode = enum.IntEnum("ErrorCode", _core.WIRE_ERROR_CODES, module=__name__)  # type: ignore[misc]


class ProtocolError(ValueError):
    """A message refused by the decoder: `code` (ErrorCode) and `reason`
    are what the server answers it with; `seq` if it could be read."""

    def __init__(self, code: int, reason: str, seq: Optional[int] = None):
        super().__init__(f"{reason} (code {code})")
        self.code, self.reason, self.seq = code, reason, seq


@dataclass(frozen=True)
class Frame:
    """Client to server: one frame's keypoints, (face_id, landmarks (68, 2)
    float32, Pose or None) per face."""
    seq: int
    timestamp: float
    faces: list

    @property
    def keypoints(self) -> KeypointFrame:
        """The KeypointFrame sent (no box or quality: they do not travel)."""
        return KeypointFrame(self.timestamp, tuple(KeypointFace(i, lm, pose=p) for i, lm, p in self.faces))


@dataclass(frozen=True)
class EstimateMessage:
    """Server to client: the estimates of the frame `seq`, and its events."""
    seq: int
    timestamp: float
    faces: list  # Estimate
    events: list  # CueEvent


@dataclass(frozen=True)
class Error:
    """Server to client: the frame `seq` (None: unreadable) was refused."""
    seq: Optional[int]
    code: int
    reason: str


def encode_frame(seq: int, frame: Union[KeypointFrame, float], faces: Optional[Iterable] = None) -> bytes:
    """A keypoint frame: a KeypointFrame, or its timestamp and faces as
    Estimator.update takes them. Landmarks go as a bin of 136 little-endian
    float32; a KeypointFace's box and quality stay behind."""
    timestamp, faces = frame_parts(frame, faces)
    return _core.wire_encode_frame(seq, timestamp, *_arrays(faces))


def encode_estimate(seq: int, timestamp: float, estimates: Iterable[Estimate],
                    events: Iterable[CueEvent]) -> bytes:
    """An estimate message, from Estimator.update's results."""
    faces = [(e.id, e.visible, e.pose.as_tuple(), list(e.emotions.values()),
              (e.amusement, e.surprise, e.confusion), list(e.action_units.values()), e.attention,
              e.engagement, e.status) for e in estimates]
    # an Estimator's events all name their face (face_id is None only for one face's Cues)
    return _core.wire_encode_estimate(seq, timestamp, faces,
                                      [(e.timestamp, e.kind, e.from_state, e.to_state, e.face_id)  # type: ignore[misc]
                                       for e in events])


def encode_error(seq: Optional[int], code: int, reason: str) -> bytes:
    """An error message; a reason over 256 bytes is cut (on a character)."""
    return _core.wire_encode_error(seq, int(code), reason)


def decode(data: Union[bytes, bytearray, memoryview], *, max_faces: int = 64
           ) -> Union[Frame, EstimateMessage, Error]:
    """The message in `data`, decoded strictly; raises ProtocolError for
    anything else. More than max_faces faces is refused (TOO_MANY)."""
    message = _core.wire_decode(data, max_faces)
    if message[0] == "refused":
        raise ProtocolError(*message[1:])
    if message[0] == "frame":
        _, seq, ts, faces = message
        return Frame(seq, ts, [(i, lm, None if p is None else Pose(*p)) for i, lm, p in faces])
    if message[0] == "estimate":
        _, seq, ts, estimates, events = message
        return EstimateMessage(seq, ts, [_estimate(e) for e in estimates], [CueEvent(*e) for e in events])
    return Error(*message[1:])


__all__ = ["PROTOCOL", "MAX_REASON", "ErrorCode", "ProtocolError", "Frame", "EstimateMessage", "Error",
           "encode_frame", "encode_estimate", "encode_error", "decode"]

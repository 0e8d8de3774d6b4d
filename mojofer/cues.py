"""Social cues of one face over time: attention, engagement phase and
interaction status, computed by the C core's state machine (csrc/estimate/cues.c).

The rules and the state diagram are in docs/cues.md. Timestamps are seconds
and must not go back; a pose of None means the face was not seen."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from . import _core
from .pose import Pose

ENGAGEMENT_PHASES, INTERACTION_STATUSES = _core.ENGAGEMENT_PHASES, _core.INTERACTION_STATUSES
_DEFAULTS = _core.cues_defaults()


@dataclass(frozen=True)
class CueParams:
    """Thresholds and durations of the cues; the defaults and the rules
    (ValueError: "invalid cue parameters: ...") are the C core's.

    Angles in degrees, times in seconds, attention thresholds in 0..1."""

    target_yaw: float = _DEFAULTS["target_yaw"]
    target_pitch: float = _DEFAULTS["target_pitch"]
    attention_full_deg: float = _DEFAULTS["attention_full_deg"]
    attention_zero_deg: float = _DEFAULTS["attention_zero_deg"]
    attention_tau: float = _DEFAULTS["attention_tau"]
    attention_low: float = _DEFAULTS["attention_low"]
    attention_high: float = _DEFAULTS["attention_high"]
    engage_after: float = _DEFAULTS["engage_after"]
    short_interruption_end: float = _DEFAULTS["short_interruption_end"]
    long_interruption_end: float = _DEFAULTS["long_interruption_end"]

    def __post_init__(self):
        """Refused where made, by the core's own rules and in its words."""
        _core.cues_params_check(dataclasses.asdict(self))


@dataclass(frozen=True)
class CueState:
    """A face's cues after an update: attention (smoothed) and this frame's
    raw attention, the engagement phase and interaction status, and how many
    seconds each has lasted."""

    attention: float
    raw_attention: float
    engagement: str
    status: str
    engagement_time: float
    status_time: float


@dataclass(frozen=True)
class CueEvent:
    """A transition: kind is "engagement" or "status"; timestamp is when it
    happened (a timer's exact due time, or the frame's). face_id is set by
    whoever tracks several faces."""

    timestamp: float
    kind: str
    from_state: str
    to_state: str
    face_id: Optional[int] = None


class Cues:
    """The cue state machines of one face (one thread at a time).

    >>> cues = Cues(attention_tau=0.5)
    >>> state, events = cues.update(0.0, Pose(0.0, 0.0, 0.0))
    >>> state.status, [(e.from_state, e.to_state) for e in events][-1]
    ('possible', ('idle', 'possible'))
    """

    def __init__(self, params: Optional[CueParams] = None, **overrides: float):
        self.params = dataclasses.replace(params or CueParams(), **overrides)
        self._core = _core.Cues(**dataclasses.asdict(self.params))

    def update(self, timestamp: float,
               pose: Union[Pose, Sequence[float], None] = None) -> tuple[CueState, list[CueEvent]]:
        """Advances to `timestamp` with the head's pose (None: not seen)."""
        if isinstance(pose, Pose):
            pose = pose.as_tuple()
        state, events = self._core.update(timestamp, pose)
        return CueState(*state), [CueEvent(*e) for e in events]

    def reset(self) -> None:
        """Back to idle; the next timestamp may be any."""
        self._core.reset()

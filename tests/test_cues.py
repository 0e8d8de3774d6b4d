"""Social cues (csrc/estimate/cues.c through mojofer.Cues): scripted attention traces
through every transition and its boundaries (2.9 s / 3.1 s and 7.9 s / 8.1 s
of looking away, counted from the moment disengaging begins), frame-rate
independence, hysteresis, argument errors, and hypothesis property tests
that the machine only ever follows the documented diagram (docs/cues.md).

The head's yaw drives attention: with the default ramp, yaw 0 gives raw
attention 1, yaw 25 gives 0.5 and yaw 60 gives 0; None is a face not seen."""
import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mojofer
from mojofer import _core
from mojofer.cues import ENGAGEMENT_PHASES, INTERACTION_STATUSES, CueParams, Cues

AT, AWAY = (0.0, 0.0, 0.0), (60.0, 0.0, 0.0)

# The diagram of docs/cues.md.
STATUS_EDGES = {
    ("idle", "possible"), ("possible", "idle"), ("possible", "ready"),
    ("ready", "in_short_interruption"), ("in_short_interruption", "ready"),
    ("in_short_interruption", "in_long_interruption"), ("in_long_interruption", "ready"),
    ("in_long_interruption", "idle"),
}
ENGAGEMENT_EDGES = {
    ("idle", "engaging"), ("engaging", "idle"), ("engaging", "engaged"),
    ("engaged", "disengaging"), ("disengaging", "engaged"), ("disengaging", "idle"),
}
PHASE_OF = {"idle": "idle", "possible": "engaging", "ready": "engaged",
            "in_short_interruption": "disengaging", "in_long_interruption": "disengaging"}


def pose_for(attention):
    """A pose whose raw attention under the default ramp (10..40 degrees) is `attention`."""
    return (40.0 - 30.0 * attention, 0.0, 0.0)


def run(cues, frames):
    """Feeds (timestamp, pose) frames; returns (last state, all events)."""
    events, state = [], None
    for t, pose in frames:
        state, new = cues.update(t, pose)
        events.extend(new)
    return state, events


def transitions(events, kind="status"):
    return [(e.from_state, e.to_state) for e in events if e.kind == kind]


def engaged_then_lost(fps=30.0):
    """Default cues looking at the camera for 2 s, then lost: (cues, frame
    index, the time disengaging began)."""
    cues = Cues()
    k = 0
    while k / fps < 2.0:
        cues.update(k / fps, AT)
        k += 1
    while True:
        state, events = cues.update(k / fps, None)
        k += 1
        if state.engagement == "disengaging":
            return cues, k, events[0].timestamp


def test_names_and_defaults():
    assert ENGAGEMENT_PHASES == ("idle", "engaging", "engaged", "disengaging")
    assert INTERACTION_STATUSES == ("idle", "possible", "ready", "in_short_interruption",
                                    "in_long_interruption")
    assert dataclasses.asdict(CueParams()) == _core.cues_defaults()
    p = CueParams()
    assert (p.attention_low, p.attention_high, p.engage_after) == (0.4, 0.6, 1.0)
    assert (p.short_interruption_end, p.long_interruption_end, p.attention_tau) == (3.0, 8.0, 0.3)
    assert mojofer.Cues is Cues
    assert Cues(attention_tau=0.5).params == dataclasses.replace(p, attention_tau=0.5)
    assert _core.Cues(engage_after=2).params["engage_after"] == 2.0


@pytest.mark.parametrize("pose, attention", [
    ((0, 0, 0), 1.0), ((10, 0, 0), 1.0), ((-25, 0, 0), 0.5), ((0, 25, 0), 0.5),
    ((15, 20, 0), 0.5), ((40, 0, 0), 0.0), ((60, 0, 80), 0.0), (None, 0.0),
    ((0, 0, 170), 1.0),  # roll does not matter
])
def test_attention_ramp(pose, attention):
    state, _ = Cues(attention_tau=0).update(0.0, pose)
    assert state.raw_attention == pytest.approx(attention, abs=1e-6)
    assert state.attention == state.raw_attention


def test_working_range_and_target():
    """Within the documented +-25 degrees an engaged face stays engaged (0.5
    is above attention_low); a target direction moves the ramp's centre."""
    for yaw in (-25.0, 25.0):
        state, _ = Cues().update(0.0, (yaw, 0.0, 0.0))
        assert state.attention == pytest.approx(0.5, abs=1e-6)
    cues = Cues(target_yaw=30.0, target_pitch=-10.0, attention_tau=0)
    assert cues.update(0.0, (30.0, -10.0, 0.0))[0].attention == 1.0
    assert cues.update(1.0, (0.0, 0.0, 0.0))[0].attention == pytest.approx((40 - math.hypot(30, 10)) / 30)


def test_smoothing_is_timestamp_based():
    """A step from lost to looking: 1 - exp(-t / tau) at t, at any frame rate."""
    for fps in (5, 30, 120):
        cues = Cues()
        cues.update(0.0, None)
        state, _ = run(cues, [(k / fps, AT) for k in range(1, int(0.6 * fps) + 1)])
        assert state.attention == pytest.approx(1 - math.exp(-0.6 / 0.3), abs=1e-9)


def test_full_cycle():
    """idle -> possible -> ready -> short -> long -> idle at 30 fps, with the
    default smoothing; timers are stamped with their exact due time."""
    frames = [(k / 30, AT if k < 60 else None) for k in range(0, 30 * 12)]
    _, events = run(Cues(), frames)
    assert [(e.kind, e.from_state, e.to_state) for e in events] == [
        ("engagement", "idle", "engaging"), ("status", "idle", "possible"),
        ("engagement", "engaging", "engaged"), ("status", "possible", "ready"),
        ("engagement", "engaged", "disengaging"), ("status", "ready", "in_short_interruption"),
        ("status", "in_short_interruption", "in_long_interruption"),
        ("engagement", "disengaging", "idle"), ("status", "in_long_interruption", "idle"),
    ]
    times = [e.timestamp for e in events]
    assert times[0] == times[1] == 0.0
    assert times[2] == times[3] == pytest.approx(1.0)  # engage_after after entering engaging
    # lost from frame 60 (2 s), whose value the EMA holds since the frame
    # before: attention exp(-(t - 59 / 30) / 0.3) is under 0.4 from the first
    # frame 0.275 s after that
    d0 = times[4]
    assert d0 == times[5] == min(k / 30 for k in range(60, 90)
                                 if math.exp(-(k / 30 - 59 / 30) / 0.3) < 0.4) == 68 / 30
    assert times[6] == pytest.approx(d0 + 3.0, abs=1e-9)
    assert times[7] == times[8] == pytest.approx(d0 + 8.0, abs=1e-9)


@pytest.mark.parametrize("away, status, engagement", [
    (2.9, "in_short_interruption", "disengaging"),
    (3.1, "in_long_interruption", "disengaging"),
    (7.9, "in_long_interruption", "disengaging"),
    (8.1, "idle", "idle"),
])
def test_interruption_boundaries(away, status, engagement):
    """Seconds of looking away counted from the moment disengaging begins."""
    cues, k, d0 = engaged_then_lost()
    state = None
    while k / 30 <= d0 + away + 1e-9:
        state, _ = cues.update(k / 30, None)
        k += 1
    assert state.status == status and state.engagement == engagement
    # a single late frame gives the same, with the timers stamped when due
    cues, k, d0 = engaged_then_lost()
    state, events = cues.update(d0 + away, None)
    assert state.status == status
    want = [d0 + due for due in (3.0, 8.0) if away >= due]
    assert [e.timestamp for e in events if e.kind == "status"] == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("back_after, via", [(1.0, "in_short_interruption"),
                                            (5.0, "in_long_interruption")])
def test_return_from_interruption(back_after, via):
    cues, k, d0 = engaged_then_lost()
    cues.update(d0 + back_after - 0.01, None)
    state, events = cues.update(d0 + back_after, AT)  # attention 1 after a gap of 0.01 s...
    assert state.status == via  # ...is still smoothed low
    state, events = cues.update(d0 + back_after + 0.5, AT)
    assert transitions(events) == [(via, "ready")]
    assert transitions(events, "engagement") == [("disengaging", "engaged")]
    assert state.engagement_time == 0.0 and state.attention > 0.6


def test_glance_does_not_engage():
    """Engaging for less than engage_after, then away: back to idle."""
    frames = [(k / 30, AT if 15 <= k < 30 else None) for k in range(0, 90)]
    _, events = run(Cues(), frames)
    assert transitions(events) == [("idle", "possible"), ("possible", "idle")]
    assert transitions(events, "engagement") == [("idle", "engaging"), ("engaging", "idle")]


@pytest.mark.parametrize("start_engaged", [False, True])
def test_hysteresis_does_not_flap(start_engaged):
    """Attention oscillating between 0.45 and 0.55, inside the 0.4..0.6 band,
    changes nothing, with or without smoothing."""
    for tau in (0.0, 0.3):
        cues = Cues(attention_tau=tau)
        t = 0.0
        if start_engaged:
            run(cues, [(k / 30, AT) for k in range(45)])
            t = 45 / 30
        before, _ = cues.update(t, pose_for(0.5))
        frames = [(t + k / 30, pose_for(0.45 if k % 2 else 0.55)) for k in range(1, 600)]
        frames += [(t + 20 + k / 7, pose_for(0.45 if k % 3 else 0.55)) for k in range(100)]
        state, events = run(cues, frames)
        assert events == []
        assert state.status == before.status == ("ready" if start_engaged else "idle")
        assert 0.45 - 1e-9 <= state.attention <= 0.55 + 1e-9


def timeline(fps, trace, end):
    _, events = run(Cues(), [(k / fps, trace(k / fps)) for k in range(int(end * fps) + 1)])
    return events


def test_frame_rate_independence():
    """The same trace at 10, 30 and 60 fps gives the same events, each within
    one frame period of the (nearly continuous) 1000 fps timeline."""

    def trace(t):
        if t < 2.0:
            return AT
        if t < 2.6:
            return None  # a short interruption ...
        if t < 4.0:
            return (5.0, 3.0, 0.0)  # ... and back
        if t < 10.0:
            return AWAY  # a long one
        if t < 10.6:
            return AT  # back before it ends
        if t < 21.0:
            return None  # to idle
        if t < 21.5:
            return pose_for(0.9)  # a glance
        if t < 23.0:
            return None
        return pose_for(0.7)  # engaged again

    end = 26.0
    reference = timeline(1000, trace, end)
    assert len(transitions(reference)) == 14
    assert set(transitions(reference)) == STATUS_EDGES
    for fps in (10, 30, 60):
        events = timeline(fps, trace, end)
        assert [(e.kind, e.from_state, e.to_state) for e in events] == \
            [(e.kind, e.from_state, e.to_state) for e in reference]
        for got, want in zip(events, reference):
            assert abs(got.timestamp - want.timestamp) <= 1 / fps + 1e-3, (fps, got, want)


def test_errors_leave_the_state_alone():
    cues = Cues()
    cues.update(2.0, AT)
    with pytest.raises(ValueError, match=r"^timestamp 1 is before the previous 2: "
                                         "timestamps must not decrease$"):
        cues.update(1.0, AT)
    with pytest.raises(ValueError, match="^timestamp nan is not finite$"):
        cues.update(math.nan, AT)
    with pytest.raises(ValueError, match="^timestamp inf is not finite$"):
        cues.update(math.inf, None)
    with pytest.raises(ValueError, match="pose must be finite"):
        cues.update(3.0, (math.nan, 0.0, 0.0))
    with pytest.raises(ValueError, match="pose must be finite"):
        cues.update(3.0, (0.0, 0.0, math.inf))
    with pytest.raises(ValueError, match="float32"):
        cues.update(3.0, (1e300, 0.0, 0.0))
    with pytest.raises(TypeError, match=r"pose must be None \(face not seen\) or \(yaw, pitch, roll\)"):
        cues.update(3.0, (0.0, 0.0))
    with pytest.raises(TypeError):
        cues.update("3", AT)
    fresh = Cues()
    fresh.update(2.0, AT)
    for t in (2.0, 2.5, 3.2):
        assert cues.update(t, AT) == fresh.update(t, AT)
    cues.update(3.2, AT)  # an equal timestamp is allowed


def test_reset():
    cues = Cues()
    run(cues, [(100 + k / 30, AT) for k in range(60)])
    cues.reset()
    state, events = cues.update(0.0, None)  # time may start again
    assert (state.engagement, state.status, events) == ("idle", "idle", [])
    assert state.attention == 0.0


@pytest.mark.parametrize("overrides, message", [
    ({"attention_low": 0.6}, "attention_low < attention_high"),
    ({"attention_high": 1.5}, "attention_high <= 1"),
    ({"engage_after": 0.0}, "engage_after must be > 0"),
    ({"short_interruption_end": 9.0}, "short_interruption_end < long_interruption_end"),
    ({"attention_tau": -1.0}, "attention_tau must be >= 0"),
    ({"attention_zero_deg": 5.0}, "attention_full_deg < attention_zero_deg"),
    ({"target_yaw": 100.0}, "target_yaw and target_pitch"),
    ({"long_interruption_end": math.nan}, "finite"),
])
def test_invalid_params(overrides, message):
    with pytest.raises(ValueError, match=message):
        Cues(**overrides)


def test_params_types():
    with pytest.raises(TypeError, match="unknown parameter 'speed'"):
        _core.Cues(speed=1.0)
    with pytest.raises(TypeError, match="keyword arguments only"):
        _core.Cues(1.0)
    with pytest.raises(TypeError, match="engage_after must be a number"):
        _core.Cues(engage_after="soon")


# ---- properties ------------------------------------------------------------

poses = st.one_of(
    st.none(),
    st.tuples(st.floats(-90, 90), st.floats(-90, 90), st.floats(-180, 180)),
    st.sampled_from([AT, AWAY, pose_for(0.5), pose_for(0.6), pose_for(0.4)]),
)
steps = st.tuples(st.one_of(st.just(0.0), st.floats(0.0, 0.2), st.floats(0.0, 12.0)), poses)


@st.composite
def params(draw):
    low = draw(st.floats(0.05, 0.9))
    high = draw(st.floats(low + 0.01, 1.0))
    short = draw(st.floats(0.1, 5.0))
    return CueParams(attention_low=low, attention_high=high,
                     attention_tau=draw(st.sampled_from([0.0, 0.05, 0.3, 2.0])),
                     engage_after=draw(st.floats(0.05, 3.0)),
                     short_interruption_end=short,
                     long_interruption_end=short + draw(st.floats(0.05, 8.0)))


@settings(max_examples=300, deadline=None)
@given(params(), st.floats(-1e6, 1e6), st.lists(steps, min_size=1, max_size=80))
def test_machine_follows_the_diagram(p, start, trace):
    cues = Cues(p)
    t = last_frame = last_event = start
    status = "idle"
    for dt, pose in trace:
        t += dt
        state, events = cues.update(t, pose)
        assert 0.0 <= state.attention <= 1.0 and 0.0 <= state.raw_attention <= 1.0
        assert PHASE_OF[state.status] == state.engagement
        assert 0.0 <= state.status_time <= state.engagement_time
        assert len(events) <= 5
        for e in events:
            edges = STATUS_EDGES if e.kind == "status" else ENGAGEMENT_EDGES
            assert (e.from_state, e.to_state) in edges
            assert last_frame <= e.timestamp <= t and e.timestamp >= last_event
            last_event = e.timestamp
            if e.kind == "status":
                assert e.from_state == status
                status = e.to_state
            else:  # a phase event comes just before its status event
                assert e.from_state == PHASE_OF[status]
        assert status == state.status
        if events:
            assert state.status_time == t - last_event
        last_frame = t


@settings(max_examples=100, deadline=None)
@given(st.lists(steps, min_size=1, max_size=40), st.floats(1e-6, 100.0), steps)
def test_going_back_changes_nothing(trace, back, after):
    cues, twin = Cues(), Cues()
    t = 0.0
    for dt, pose in trace:
        t += dt
        assert cues.update(t, pose) == twin.update(t, pose)
    with pytest.raises(ValueError, match="timestamps must not decrease"):
        cues.update(t - back, AT)
    with pytest.raises(ValueError):
        cues.update(t + 1.0, (math.nan, 0.0, 0.0))
    assert cues.update(t + after[0], after[1]) == twin.update(t + after[0], after[1])

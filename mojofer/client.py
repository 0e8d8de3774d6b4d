"""The streaming client: anonymized keypoints out to a mojofer server, its
estimates back (docs/protocol.md). The C core keeps the connection on a
thread of its own: send() only queues and never waits for the network;
every frame sent gets exactly one CloudResult, an estimate or an error.

    with mojofer.CloudClient("ws://127.0.0.1:8765/", api_key, socket_key) as c:
        for keypoint_frame in anonymizer.stream(frames, fps=30):
            c.send(keypoint_frame)
            for r in c.results():
                ...
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Optional, Union

from . import _core
from .cues import CueEvent
from .estimator import Estimate, FaceInput, _arrays, _estimate, frame_parts
from .keypoints import KeypointFrame

# Codes of the error results the client makes itself (docs/protocol.md):
# the send queue was full, so the frame was not sent; the client was closed
# before the server answered.
QUEUE_FULL, CLOSED = _core.CLIENT_QUEUE_FULL, _core.CLIENT_CLOSED


@dataclass(frozen=True)
class CloudError:
    code: int
    reason: str


@dataclass(frozen=True)
class CloudResult:
    """The answer to one frame: the server's estimates and events (as
    Estimator.update gives them), or an error. seq is send()'s return."""

    seq: Optional[int]
    timestamp: Optional[float] = None
    faces: list = field(default_factory=list)
    events: list = field(default_factory=list)
    error: Optional[CloudError] = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _result(reply) -> CloudResult:
    if reply[0] == "estimate":
        _, seq, ts, faces, events = reply
        return CloudResult(seq, ts, [_estimate(e) for e in faces], [CueEvent(*e) for e in events])
    _, seq, code, reason = reply
    return CloudResult(seq, error=CloudError(code, reason))


class CloudClient:
    """Streams keypoints to a mojofer server.

    url: ws://host:port/ (loopback; other hosts need allow_remote_plain) or
    wss://host:port/ (allow_self_signed for a self-signed certificate).
    max_pending bounds frames unanswered plus results not yet taken; a send
    beyond it is answered at once with an error result (code 4100). A lost
    connection is reopened with backoff (backoff_min doubling to backoff_max
    seconds) and the unanswered frames are sent again. on_result, if given,
    is called with each CloudResult on a thread of the client's; results()
    is then empty.
    """

    def __init__(self, url: str, api_key: str, socket_key: str, *, max_pending: int = 256,
                 backoff_min: float = 0.05, backoff_max: float = 5.0,
                 allow_remote_plain: bool = False, allow_self_signed: bool = False,
                 on_result: Optional[Callable[[CloudResult], None]] = None):
        self.url = url
        self._core = _core.Client(url, api_key, socket_key, int(max_pending), float(backoff_min),
                                  float(backoff_max), bool(allow_remote_plain),
                                  bool(allow_self_signed))
        self._closed = False
        self._callback_thread = None
        if on_result is not None:
            self._callback_thread = threading.Thread(target=self._deliver, args=(on_result,),
                                                     name="mojofer-cloud-results", daemon=True)
            self._callback_thread.start()

    def send(self, frame: Union[KeypointFrame, float], faces: Optional[Iterable[FaceInput]] = None) -> int:
        """Queues one frame, a KeypointFrame or its timestamp and faces (as
        Estimator.update takes them; a KeypointFace's box and quality do not
        travel), and returns its seq; never waits for the network."""
        if self._closed:
            raise ValueError("send on a closed CloudClient")
        timestamp, faces = frame_parts(frame, faces)
        ids, points, poses, has_pose = _arrays(faces)
        return self._core.send(float(timestamp), ids, points, poses, has_pose)

    def receive(self, timeout: float = 0.0) -> Optional[CloudResult]:
        """The next result, waiting up to timeout seconds; None if none came."""
        reply = self._core.receive(float(timeout))
        return None if reply is None else _result(reply)

    def results(self, timeout: float = 0.0) -> Iterator[CloudResult]:
        """The results that arrive, until none comes within timeout seconds."""
        while (r := self.receive(timeout)) is not None:
            yield r

    def flush(self, timeout: float = 5.0) -> int:
        """Waits up to timeout seconds for every frame to be answered;
        returns how many are still unanswered."""
        return self._core.flush(float(timeout))

    @property
    def state(self) -> dict:
        """connected, connects (sessions opened), waiting (frames
        unanswered), replies (results not yet taken), last_close."""
        return self._core.state()

    def close(self, timeout: float = 5.0) -> None:
        """Waits up to timeout seconds for the answers, then closes; frames
        still unanswered get an error result (code 4101)."""
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._core.close()
        if self._callback_thread is not None:
            self._callback_thread.join()

    def _deliver(self, on_result) -> None:
        while True:
            r = self.receive(0.1)
            if r is not None:
                on_result(r)
            elif self._closed and self._core.state()["replies"] == 0:
                return

    def __enter__(self) -> "CloudClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Type stubs of mojofer._core, the C extension (mojofer/_core/*.c): what its
module table, types and constants export (module.c), as the binding parses
its arguments (positional-only where it uses PyArg_ParseTuple or METH_O,
keyword-only after the "$" of its format)."""
import os
import sys
from typing import Any, Callable, Final, Literal, Sequence, TypedDict, final

import numpy as np
from _typeshed import ReadableBuffer, structseq
from numpy.typing import ArrayLike, NDArray

# (68, 2) points, (n, 68, 2) faces and the like: anything NumPy converts to
# float32 (the binding copies or views it as a C-contiguous array)
_Points = ArrayLike
# a uint8 frame shaped (H, W), (H, W, 3) or (H, W, 4), viewed without a copy
_Frame = NDArray[np.uint8]
_Pose = tuple[float, float, float]

# ---- constants (module.c add_names) --------------------------------------

EMOTIONS: tuple[str, ...]
ACTION_UNITS: tuple[str, ...]
SOCIAL_EMOTIONS: tuple[str, ...]
ENGAGEMENT_PHASES: tuple[str, ...]
INTERACTION_STATUSES: tuple[str, ...]
EVENT_KINDS: tuple[str, ...]
FACE_STATES: tuple[str, ...]
WIRE_ERROR_CODES: dict[str, int]
WIRE_PROTOCOL: str
WIRE_MAX_REASON: int
BASELINE_SETTLED_FACES: int
CLIENT_QUEUE_FULL: int
CLIENT_CLOSED: int
LANDMARK_FEATURES: int

class ModelError(ValueError):
    """A model file is missing, truncated, corrupted, of an unsupported
    version or of the wrong kind."""

# ---- the dicts the module functions return ---------------------------------

class _Versions(TypedDict):
    mojofer: str
    openblas: str
    libwebsockets: str
    msgpack: str

class _DetectDefaults(TypedDict):
    min_size: int
    max_size: int
    scale_factor: float
    min_neighbors: int
    exhaustive: bool

class _Limits(TypedDict):
    max_image_pixels: int
    max_image_side: int
    max_model_bytes: int
    max_faces: int

class _EstimatorDefaults(TypedDict):
    smoothing: float
    grace: float
    max_faces: int
    baseline_window: float

# ---- module functions (module.c core_methods) ------------------------------

def versions() -> _Versions: ...
def get_num_threads() -> int: ...
def set_num_threads(n: int, /) -> None: ...
def landmark_features(frame: _Frame, shape: _Points, mean_shape: _Points, radius: float, *,
                      bgr: bool = False) -> NDArray[np.float32]: ...
def detect_defaults() -> _DetectDefaults: ...
def limits() -> _Limits: ...
def cues_defaults() -> dict[str, float]: ...
def cues_params_check(params: dict[str, float], /) -> None: ...
def estimator_defaults() -> _EstimatorDefaults: ...

# the wire (wire.c): a face of an estimate is (id, visible, pose (3), emotions
# (7), social (3), action_units (9), attention, engagement, status); an event
# (timestamp, kind, from, to, face_id)
_WireFace = tuple[int, bool, Sequence[float], Sequence[float], Sequence[float], Sequence[float], float,
                  str, str]
_WireEvent = tuple[float, str, str, str, int]
# what wire_decode answers (Client.receive: an estimate or an error)
_FrameReply = tuple[Literal["frame"], int, float, list[tuple[int, NDArray[np.float32], _Pose | None]]]
_EstimateReply = tuple[Literal["estimate"], int, float, list[Estimate], list[Event]]
_ErrorReply = tuple[Literal["error"], int | None, int, str]
_Refused = tuple[Literal["refused"], int, str, int | None]

def wire_encode_frame(seq: int, timestamp: float, ids: ArrayLike, points: ArrayLike, poses: ArrayLike,
                      has_pose: ArrayLike, /) -> bytes: ...
def wire_encode_estimate(seq: int, timestamp: float, faces: Sequence[_WireFace],
                         events: Sequence[_WireEvent], /) -> bytes: ...
def wire_encode_error(seq: int | None, code: int, reason: str, /) -> bytes: ...
def wire_decode(data: ReadableBuffer, max_faces: int,
                /) -> _FrameReply | _EstimateReply | _ErrorReply | _Refused: ...

# ---- structured results (convert.c), tuples with named fields -------------

@final
class Estimate(structseq[Any], tuple[int, bool, _Pose, dict[str, float], float, float, float,
                                     dict[str, float], float, float, str, str, float, float]):
    """One face's estimate at one frame."""
    if sys.version_info >= (3, 10):
        __match_args__: Final = ('id', 'visible', 'pose', 'emotions', 'amusement', 'surprise',
                                'confusion', 'action_units', 'attention', 'raw_attention', 'engagement',
                                'status', 'engagement_time',
                                'status_time')
    @property
    def id(self) -> int: ...
    @property
    def visible(self) -> bool: ...
    @property
    def pose(self) -> _Pose: ...
    @property
    def emotions(self) -> dict[str, float]: ...
    @property
    def amusement(self) -> float: ...
    @property
    def surprise(self) -> float: ...
    @property
    def confusion(self) -> float: ...
    @property
    def action_units(self) -> dict[str, float]: ...
    @property
    def attention(self) -> float: ...
    @property
    def raw_attention(self) -> float: ...
    @property
    def engagement(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def engagement_time(self) -> float: ...
    @property
    def status_time(self) -> float: ...

@final
class Event(structseq[Any], tuple[float, str, str, str, int | None]):
    """A transition of a face's cues or presence; face_id None for one face's Cues."""
    if sys.version_info >= (3, 10):
        __match_args__: Final = ('timestamp', 'kind', 'from_state', 'to_state', 'face_id')
    @property
    def timestamp(self) -> float: ...
    @property
    def kind(self) -> str: ...
    @property
    def from_state(self) -> str: ...
    @property
    def to_state(self) -> str: ...
    @property
    def face_id(self) -> int | None: ...

@final
class CueState(structseq[Any], tuple[float, float, str, str, float, float]):
    """A face's cues after an update."""
    if sys.version_info >= (3, 10):
        __match_args__: Final = ('attention', 'raw_attention', 'engagement', 'status', 'engagement_time',
                                'status_time')
    @property
    def attention(self) -> float: ...
    @property
    def raw_attention(self) -> float: ...
    @property
    def engagement(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def engagement_time(self) -> float: ...
    @property
    def status_time(self) -> float: ...

@final
class Expressions(structseq[Any], tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]):
    """Expressions of n faces: emotions (n, 7), social (n, 3: amusement,
    surprise, confusion) and action_units (n, 9), float32."""
    if sys.version_info >= (3, 10):
        __match_args__: Final = ('emotions', 'social', 'action_units')
    @property
    def emotions(self) -> NDArray[np.float32]: ...
    @property
    def social(self) -> NDArray[np.float32]: ...
    @property
    def action_units(self) -> NDArray[np.float32]: ...

# ---- types (one file each in mojofer/_core/) ------------------------------

@final
class Model:
    """A validated mojofer model file, from a path or bytes."""
    def __init__(self, source: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> None: ...
    @property
    def kind(self) -> str: ...
    @property
    def names(self) -> list[str]: ...
    def tensor(self, name: str, /) -> NDArray[np.float32] | NDArray[np.int32]: ...

@final
class Detector:
    def __init__(self, model: Model) -> None: ...
    def detect(self, frame: _Frame, *, bgr: bool = False, min_size: int = ..., max_size: int = ...,
               scale_factor: float = ..., min_neighbors: int = ...,
               exhaustive: bool = ...) -> NDArray[np.float32]: ...

@final
class Landmarker:
    def __init__(self, model: Model) -> None: ...
    def fit(self, frame: _Frame, box: Sequence[float], *,
            bgr: bool = False) -> tuple[NDArray[np.float32], float]: ...
    def track(self, frame: _Frame, points: _Points, *,
              bgr: bool = False) -> tuple[NDArray[np.float32], float]: ...

@final
class PoseEstimator:
    def __init__(self, model: Model) -> None: ...
    def estimate(self, points: _Points) -> _Pose: ...

@final
class ExpressionClassifier:
    def __init__(self, model: Model) -> None: ...
    def classify(self, points: _Points, baselines: _Points | None = None,
                 baseline_weights: ArrayLike | None = None) -> Expressions: ...
    def baseline(self, points: _Points, /) -> tuple[NDArray[np.float32], float]: ...

@final
class Cues:
    def __init__(self, **params: float) -> None: ...
    @property
    def params(self) -> dict[str, float]: ...
    def update(self, timestamp: float,
               pose: Sequence[float] | None = None) -> tuple[CueState, list[Event]]: ...
    def reset(self) -> None: ...

@final
class Estimator:
    def __init__(self, pose_model: Model, expression_model: Model, smoothing: float, grace: float,
                 max_faces: int, cues: dict[str, float], baseline_window: float = ...) -> None: ...
    def update(self, timestamp: float, ids: ArrayLike, points: ArrayLike, poses: ArrayLike,
               has_pose: ArrayLike) -> tuple[list[Estimate], list[Event]]: ...
    def reset(self) -> None: ...
    def lost(self) -> list[int]: ...

# a key: (id, api_key, socket_key, max_sessions, max_fps, max_session_seconds, catch_up_seconds)
_ServerKey = tuple[str, str, str, int, float, float, float]

@final
class Server:
    def __init__(self, host: str, port: int, keys: Sequence[_ServerKey], idle_timeout: float,
                 max_message_bytes: int, allow_remote_plain: bool, tls_cert: str | None,
                 tls_key: str | None, pose_model: Model, expression_model: Model, smoothing: float,
                 grace: float, max_faces: int, cues: dict[str, float],
                 log: Callable[[dict[str, Any]], object] | None, *, max_connections: int = ...,
                 max_connections_per_address: int = ..., handshake_timeout: float = ...,
                 threads: int = ..., baseline_window: float = ...,
                 record: Callable[[int, bytes, bool], object] | None = ...,
                 statics: Sequence[tuple[str, str]] = ...) -> None: ...
    @property
    def port(self) -> int: ...
    @property
    def address(self) -> tuple[str, int]: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...

@final
class Client:
    def __init__(self, url: str, api_key: str, socket_key: str, max_pending: int, backoff_min: float,
                 backoff_max: float, allow_remote_plain: bool, allow_self_signed: bool) -> None: ...
    def send(self, timestamp: float, ids: ArrayLike, points: ArrayLike, poses: ArrayLike,
             has_pose: ArrayLike, /) -> int: ...
    def receive(self, timeout: float, /) -> _EstimateReply | _ErrorReply | None: ...
    def flush(self, timeout: float, /) -> int: ...
    def state(self) -> dict[str, Any]: ...
    def close(self) -> None: ...

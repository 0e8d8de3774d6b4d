"""The streaming server: keypoint frames in over WebSocket + msgpack, the
Estimator's estimates out, one Estimator per session (docs/protocol.md).
The C core runs it on service threads of its own (libwebsockets, `threads`
of them sharing the port); Python only configures, starts and stops it, and
receives the structured log.

    with mojofer.serve(port=0, keys=[mojofer.Key("demo", "api", "sock")],
                       background=True) as server:
        print(server.url)
"""
from __future__ import annotations

import dataclasses
import logging
import numbers
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Union

from . import _core
from .cues import CueParams
from .estimator import _DEFAULTS, DEFAULT_BASELINE, _model
from .expressions import EXPRESSIONS_MODEL
from .models import models_folder, web_folder
from .pose import POSE_MODEL

LOG = logging.getLogger("mojofer.server")

PathLike = Union[str, os.PathLike]


@dataclass(frozen=True)
class Key:
    """An application's key pair and its plan. `id` names the key in the
    logs (the secrets never appear there)."""

    id: str
    api_key: str
    socket_key: str
    max_sessions: int = 4          # simultaneous; one more is refused (4002)
    max_fps: float = 30.0          # frames per second, bursts of one second allowed
    max_session_seconds: float = 3600.0
    # a backlog of frames taken over an outage this long (sent again after a
    # reconnect, faster than max_fps) is admitted by its timestamps
    catch_up_seconds: float = 10.0

    def as_tuple(self) -> tuple:
        return (self.id, self.api_key, self.socket_key, int(self.max_sessions),
                float(self.max_fps), float(self.max_session_seconds), float(self.catch_up_seconds))


def log_to_logging(entry: dict) -> None:
    """The default log: one line per session start, end or refusal on the
    "mojofer.server" logger, the fields also under record.mojofer."""
    level = logging.WARNING if entry["event"] == "refused" else logging.INFO
    text = " ".join(f"{k}={entry[k]!r}" for k in ("key_id", "session", "peer", "code", "reason",
                                                  "frames", "errors", "seconds"))
    LOG.log(level, "%s %s", entry["event"], text, extra={"mojofer": entry})


class Server:
    """A bound server (see serve()): .port, .address, .url, .page_url, .start(), .stop(); a
    context manager that stops it on exit. A server runs once."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, keys: Iterable[Key] = (), *,
                 idle_timeout: float = 30.0, max_message_bytes: int = 64 * 1024,
                 max_connections: int = 1024, max_connections_per_address: int = 64,
                 handshake_timeout: float = 5.0, threads: int = 1,
                 allow_remote_plain: bool = False, tls_cert: Optional[PathLike] = None,
                 tls_key: Optional[PathLike] = None, smoothing: float = _DEFAULTS["smoothing"],
                 grace: Optional[float] = None, cues: Optional[CueParams] = None,
                 max_faces: int = _DEFAULTS["max_faces"], baseline: Optional[float] = DEFAULT_BASELINE,
                 pose_model=None, expression_model=None,
                 log: Optional[Callable[[dict], None]] = log_to_logging,
                 record: Optional[Callable[[int, bytes, bool], None]] = None,
                 web: Union[bool, PathLike, None] = None):
        keys = [k if isinstance(k, Key) else Key(**k) for k in keys]
        self.web = _web_root(web)
        # types here, so that a wrong one is named; every rule on the values
        # is the core's, its sentence reaching ValueError unchanged
        for name, value in (("port", port), ("max_message_bytes", max_message_bytes),
                            ("max_connections", max_connections),
                            ("max_connections_per_address", max_connections_per_address),
                            ("threads", threads), ("max_faces", max_faces)):
            if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                    and -2**31 <= value < 2**31):
                raise TypeError(f"{name} must be a (32-bit) integer, got {value!r}")
        if baseline is None:
            baseline = 0.0
        for name, seconds in (("idle_timeout", idle_timeout), ("handshake_timeout", handshake_timeout),
                              ("baseline", baseline)):
            if not (isinstance(seconds, numbers.Real) and not isinstance(seconds, bool)):
                raise TypeError(f"{name} must be a number of seconds, got {seconds!r}")
        cue_params = cues if cues is not None else CueParams()
        grace = float(cue_params.long_interruption_end if grace is None else grace)
        self.host = host
        self.tls = tls_cert is not None
        self._core = _core.Server(
            host, int(port), [k.as_tuple() for k in keys], float(idle_timeout),
            int(max_message_bytes), bool(allow_remote_plain),
            os.fspath(tls_cert) if tls_cert is not None else None,
            os.fspath(tls_key) if tls_key is not None else None,
            _model(pose_model, POSE_MODEL), _model(expression_model, EXPRESSIONS_MODEL),
            float(smoothing), grace, int(max_faces), dataclasses.asdict(cue_params), log,
            max_connections=int(max_connections),
            max_connections_per_address=int(max_connections_per_address),
            handshake_timeout=float(handshake_timeout), threads=int(threads),
            baseline_window=float(baseline), record=record,
            statics=[("/", os.fspath(self.web)), ("/models/", os.fspath(models_folder()))]
            if self.web else [])
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._core.port

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) as bound: the numeric address the host resolved to."""
        return self._core.address

    @property
    def url(self) -> str:
        return self._address_url("wss" if self.tls else "ws")

    @property
    def page_url(self) -> Optional[str]:
        """The browser page's address when the server serves it (web=), else None."""
        return self._address_url("https" if self.tls else "http") if self.web else None

    def _address_url(self, scheme: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/"

    def start(self) -> "Server":
        self._core.start()
        return self

    def stop(self) -> None:
        """Closes every session (1001 going away) and joins the server's threads."""
        self._core.stop()
        self._stopped.set()

    def wait(self) -> None:
        """Blocks until stop() is called from another thread, or Ctrl-C."""
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(host: str = "127.0.0.1", port: int = 8765, keys: Iterable[Key] = (), *,
          background: bool = False, **options) -> Optional[Server]:
    """Runs the streaming server: blocking until Ctrl-C (background=False),
    or started on its own thread, returning the Server (.port, .url, .stop()).

    host is bound exactly: an IPv4 or IPv6 literal, or a name resolved once
    to its first IPv4 address (else IPv6): "localhost" binds 127.0.0.1 only;
    "0.0.0.0" every IPv4 address, "::" every address (.address tells).

    keys: Key (or dicts of its fields), each an application's api_key and
    socket_key with its plan. Options: idle_timeout (seconds without a
    message that end a session), max_message_bytes, max_connections (1024)
    and max_connections_per_address (64; an IPv6 client counts by its /64)
    open at once, handshakes included: one more is answered HTTP 503 and
    closed; handshake_timeout (5 s from connect to session), threads (1:
    service threads sharing the port, about one per core; the limits hold
    for the server as a whole), tls_cert and
    tls_key (PEM files: wss://; plain ws:// serves only a loopback address
    unless allow_remote_plain), the Estimator's smoothing, grace, cues, max_faces,
    baseline (seconds of each session face's person baseline, 60; None or 0 =
    none), pose_model and expression_model, and log (a callable given a dict per
    session start, end and refusal, its "thread" the service thread's index;
    called from the service threads, one call at a time; default: the
    "mojofer.server" logger), and record (a callable given (session, data,
    binary) for every complete message a session receives, as received,
    before it is decoded: what crossed the wire; None by default).

    web: True serves the bundled browser page (web/) on the same port, at
    "/", and the bundled models it fetches at "/models/" (.page_url); a
    folder serves that page instead; None or False (default) serves none,
    and a plain HTTP request is answered 400.
    """
    server = Server(host, port, keys, **options).start()
    if background:
        return server
    server.wait()
    return None


def load_keys(path: PathLike) -> list[Key]:
    """Keys from a TOML file of [[keys]] tables (id, api_key, socket_key,
    max_sessions, max_fps, max_session_seconds, catch_up_seconds)."""
    data = _read_toml(Path(path))
    entries = data.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected [[keys]] tables, each with id, api_key and socket_key")
    keys = []
    for i, entry in enumerate(entries):
        try:
            keys.append(Key(**entry))
        except TypeError as exc:
            raise ValueError(f"{path}: key {i}: {exc}") from None
    return keys


CONFIG_FIELDS = {"host", "port", "keys_file", "keys", "idle_timeout", "max_message_bytes",
                 "max_connections", "max_connections_per_address", "handshake_timeout", "threads",
                 "allow_remote_plain", "tls_cert", "tls_key", "smoothing", "grace", "max_faces",
                 "baseline", "web"}
WEB_FIELDS = {"enabled", "root"}


def load_config(path: PathLike) -> dict:
    """serve()'s arguments from a TOML file: host, port, idle_timeout,
    max_message_bytes, max_connections, max_connections_per_address,
    handshake_timeout, threads, allow_remote_plain, tls_cert, tls_key, the Estimator's
    smoothing, grace, max_faces and baseline, the keys: inline [[keys]] tables or
    keys_file, and a [web] table (enabled = true, the default once the table is
    there, serves the bundled page; root = "folder", another page). Relative
    paths are relative to the config file."""
    path = Path(path)
    data = _read_toml(path)
    unknown = set(data) - CONFIG_FIELDS
    if unknown:
        raise ValueError(f"{path}: unknown setting(s) {sorted(unknown)}; known: {sorted(CONFIG_FIELDS)}")
    options = dict(data)
    keys = [Key(**k) for k in options.pop("keys", [])]
    if "keys_file" in options:
        keys += load_keys(path.parent / options.pop("keys_file"))
    for name in ("tls_cert", "tls_key"):
        if name in options:
            options[name] = path.parent / options[name]
    if "web" in options:
        options["web"] = _web_setting(path, options["web"])
    options["keys"] = keys
    return options


def _web_setting(path: Path, table) -> Union[bool, Path]:
    """Server's web= from the config's [web] table."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{path}: web must be a table: [web] with enabled = true and optionally root")
    unknown = set(table) - WEB_FIELDS
    if unknown:
        raise ValueError(f"{path}: unknown web setting(s) {sorted(unknown)}; known: {sorted(WEB_FIELDS)}")
    enabled, root = table.get("enabled", True), table.get("root")
    if not isinstance(enabled, bool):
        raise ValueError(f"{path}: web.enabled must be true or false, got {enabled!r}")
    if root is not None and not isinstance(root, str):
        raise ValueError(f"{path}: web.root must be a folder's path, got {root!r}")
    if not enabled:
        return False
    return path.parent / root if root is not None else True


def _web_root(web) -> Optional[Path]:
    """The page's folder for Server's web=, or None for no page."""
    if web is None or web is False:
        return None
    if web is True:
        return web_folder()
    if isinstance(web, (str, os.PathLike)):
        return Path(web).resolve()
    raise TypeError(f"web must be True, False, None or a folder's path, got {web!r}")


def _read_toml(path: Path) -> Mapping:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # the same module, a declared dependency before 3.11
        import tomli as tomllib
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: {exc}") from None

"""The page in web/, in headless Chromium whose fake camera plays the bundled
sample's face for 4 s and then the empty wall for 6 s (tests/browser_page.py),
against a real mojofer server serving the page (web=True) on loopback.

Checked: the page anonymizes frames in its worker (WebAssembly), sends them,
and renders the estimates; everything the server received was a keypoint
frame (recorded server-side, as received, before decoding); the interaction
status goes ready while the face is there and into an interruption when it
leaves; wrong keys are shown as the server's close code and reason; the
page works against `mojofer serve --web` started as the README says (its
keys handed over by a host page's script), and as static files hosted
elsewhere, talking to the server whose address the user typed.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest

from browser_page import browser_missing_reason, chromium, sample_clip, start_page
from mojofer import wire
from mojofer.models import models_folder, web_folder
from mojofer.server import Key, Server

pytestmark = pytest.mark.browser

KEY = Key("page", "api-page-test", "sock-page-test", max_sessions=2, max_fps=60, max_session_seconds=600)
FRAME_KEYS = {"t", "seq", "ts", "faces"}
FACE_KEYS = {"id", "lm", "pose"}
# the README's screenshot is taken by this test when this names a file
SCREENSHOT = os.environ.get("MOJOFER_SCREENSHOT")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    reason = browser_missing_reason()
    if reason is not None:
        pytest.fail(reason, pytrace=False)
    return sample_clip(tmp_path_factory.mktemp("camera") / "sample.y4m", face_seconds=4.0, empty_seconds=6.0)


@pytest.fixture
def served():
    """A server with the page, recording every message its sessions receive."""
    recorded, logs = [], []
    server = Server(port=0, keys=[KEY], web=True, log=logs.append,
                    record=lambda session, data, binary: recorded.append((session, data, binary)))
    with server.start():
        yield server, recorded, logs


def wait_for(driver, script: str, timeout: float, what: str):
    """Polls `return <script>` in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script}")
        if value:
            return value
        time.sleep(0.1)
    stats = driver.execute_script("return window.mojoferStats")
    error = driver.execute_script("return document.querySelector('#error')?.textContent")
    console = [entry["message"] for entry in driver.get_log("browser")][-10:]
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; stats {stats}, "
                         f"error {error!r}, console {console}")


def start(driver, server, api_key=KEY.api_key, socket_key=KEY.socket_key):
    """Opens the page served by `server` and starts it with the keys typed in."""
    start_page(driver, f"http://127.0.0.1:{server.port}/", api_key, socket_key)


def test_the_page_anonymizes_sends_keypoints_only_and_renders_estimates(clip, served):
    from selenium.webdriver.common.by import By

    server, recorded, logs = served
    with chromium(clip) as driver:
        start(driver, server)
        wait_for(driver, "window.mojoferStats && window.mojoferStats.lastFrame"
                         " && window.mojoferStats.lastFrame.faces.length === 1", 30, "a frame with the face anonymized")
        wait_for(driver, "window.mojoferStats.estimatesReceived > 0", 10, "an estimate")
        # the face looks at the camera: engaged after 1 s, then ready
        wait_for(driver, "document.querySelector('#status').textContent.includes('ready')", 10,
                 "the status ready")
        emotions = driver.find_element(By.ID, "emotions").text
        assert "happiness" in emotions and "neutral" in emotions
        assert driver.find_element(By.ID, "engagement").text.strip()
        assert driver.find_element(By.ID, "attention").text.strip()
        if SCREENSHOT:
            driver.save_screenshot(SCREENSHOT)
        # the face leaves the video: attention falls, the interaction is interrupted
        event = wait_for(driver, "window.mojoferStats.events.find(e => e.kind === 'status'"
                                 " && e.to === 'in_short_interruption')", 15,
                         "the status event in_short_interruption")
        assert event["from"] == "ready"
        wait_for(driver, "document.querySelector('#status').textContent.includes('interruption')", 5,
                 "the interruption rendered")
        wait_for(driver, "document.querySelector('#events').textContent.includes('in_short_interruption')", 5,
                 "the event listed")
        # the user stops: the page closes its session (1000) and sends no more
        driver.execute_script("window.mojofer.stop()")
        wait_for(driver, "document.body.dataset.state === 'idle'", 5, "the page stopped")
        stats = driver.execute_script("return window.mojoferStats")
    deadline = time.monotonic() + 5
    while not any(entry["event"] == "session_end" for entry in logs) and time.monotonic() < deadline:
        time.sleep(0.05)
    server.stop()

    assert stats["framesSent"] > 30 and stats["errorsReceived"] == 0
    # the replies still on their way when the page closed are not counted
    assert stats["framesSent"] - 5 <= stats["estimatesReceived"] <= stats["framesSent"]
    # server-side: one session, and every message it received was a binary
    # keypoint frame of the documented keys, with no room for pixels in it
    assert len({session for session, _, _ in recorded}) == 1
    assert len(recorded) == stats["framesSent"]
    faces_seen = 0
    for _, data, binary in recorded:
        assert binary
        message = msgpack.unpackb(data)
        assert set(message) == FRAME_KEYS and message["t"] == "frame"
        for face in message["faces"]:
            assert set(face) <= FACE_KEYS and len(face["lm"]) == 544
        assert len(data) <= 64 + 600 * len(message["faces"])
        frame = wire.decode(data)
        faces_seen += len(frame.faces)
        for _, landmarks, _ in frame.faces:
            # the points lie on the face in the middle of the 640x480 frame
            assert 200 < landmarks[:, 0].mean() < 440 and 100 < landmarks[:, 1].mean() < 380
    assert faces_seen > 30
    (end,) = [entry for entry in logs if entry["event"] == "session_end"]
    assert end["frames"] == stats["framesSent"] and end["errors"] == 0


def test_wrong_keys_and_plain_ws_off_loopback_are_refused(clip, served):
    from selenium.webdriver.common.by import By

    server, recorded, _ = served
    with chromium(clip) as driver:
        start(driver, server, socket_key="not-the-socket-key")
        wait_for(driver, "document.body.dataset.state === 'error'", 30, "the page in its error state")
        error = driver.find_element(By.ID, "error").text
        assert "4001" in error and "key" in error
        # keys go in the URL's query: never over plain ws:// to a host that is not this machine
        driver.find_element(By.ID, "server-url").send_keys("ws://192.0.2.7:8765/")
        driver.find_element(By.ID, "start").click()
        wait_for(driver, "document.querySelector('#error').textContent.includes('use wss://')", 10,
                 "plain ws:// to another host refused")
        assert driver.execute_script("return document.body.dataset.state") == "error"
    assert recorded == []


def test_the_page_of_mojofer_serve_as_the_readme_starts_it(clip):
    """`mojofer serve --web` (no config: a key made for the run, printed);
    the keys come from the host page's script, window.mojofer.start."""
    proc = subprocess.Popen([sys.executable, "-m", "mojofer", "serve", "--web", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        serving, page, keys = (proc.stdout.readline() for _ in range(3))
        assert page.startswith("mojofer: the page at http://127.0.0.1:"), (serving, page, keys)
        words = keys.split()
        api_key, socket_key = words[words.index("api") + 2], words[words.index("socket") + 2]
        with chromium(clip) as driver:
            driver.get(page.split()[-1])
            driver.execute_script("window.mojofer.start({apiKey: arguments[0], socketKey: arguments[1]})",
                                  api_key, socket_key)
            wait_for(driver, "document.querySelector('#status').textContent.includes('ready')", 30,
                     "the status ready")
            assert driver.execute_script("return window.mojoferStats.errorsReceived") == 0
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


class _StaticFiles(http.server.SimpleHTTPRequestHandler):
    extensions_map = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
                      ".wasm": "application/wasm", ".mfm": "application/octet-stream"}

    def log_message(self, *args):
        pass


def test_the_page_hosted_elsewhere_as_static_files(clip, served, tmp_path):
    """web/ and the models copied to another web server (here Python's, on
    another port); the user types the mojofer server's address."""
    server, recorded, _ = served
    site = tmp_path / "site"
    shutil.copytree(web_folder(), site)
    shutil.copytree(models_folder(), site / "models", ignore=shutil.ignore_patterns("*.md"))
    host = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                           functools.partial(_StaticFiles, directory=str(site)))
    threading.Thread(target=host.serve_forever, daemon=True).start()
    try:
        with chromium(clip) as driver:
            start_page(driver, f"http://127.0.0.1:{host.server_port}/index.html", KEY.api_key, KEY.socket_key,
                       server_url=f"ws://127.0.0.1:{server.port}/")
            wait_for(driver, "window.mojoferStats.estimatesReceived > 10", 30, "estimates")
            assert driver.execute_script("return window.mojoferStats.errorsReceived") == 0
    finally:
        host.shutdown()
    assert len(recorded) > 10 and all(binary for _, _, binary in recorded)

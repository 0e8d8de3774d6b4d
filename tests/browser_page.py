"""Drives the page in web/ in headless Chromium with a fake camera, for
tests/test_browser.py and benchmarks/browser.py (not a test module).

The camera is Chromium's fake capture device fed from a .y4m clip
(`--use-file-for-fake-video-capture`), which it plays in a loop at the
clip's frame rate. `sample_clip` makes one from the bundled sample picture:
the face for a while, then the empty background, so that a test sees the
face arrive and leave.
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "mojofer" / "data" / "astronaut.png"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FPS = 30  # the fake camera's frame rate


def browser_missing_reason():
    """Why the page cannot be driven here, or None: Debian's chromium and
    chromium-driver and PyPI's selenium are needed."""
    missing = [name for name, path in (("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER))
               if shutil.which(path) is None]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip)")
    return f"a headless browser is needed: {', '.join(missing)} not installed" if missing else None


def write_y4m(path: Path, frames: Iterable[np.ndarray], fps: int) -> int:
    """Writes RGB uint8 frames (all the same even size) as a YUV 4:2:0 .y4m
    clip (BT.601, video range: what Chromium's fake camera reads); returns
    the number of frames."""
    count = 0
    with open(path, "wb") as out:
        for frame in frames:
            height, width = frame.shape[:2]
            if count == 0:
                out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            rgb = frame.astype(np.float32)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
            u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
            v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
            quarter = lambda c: c.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))  # noqa: E731
            out.write(b"FRAME\n")
            for plane in (y, quarter(u), quarter(v)):
                out.write(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())
            count += 1
    return count


def sample_frames(face_seconds: float, empty_seconds: float, fps: int,
                  size: tuple[int, int] = (640, 480)) -> Iterator[np.ndarray]:
    """The bundled sample's face swaying gently on a plain wall for
    face_seconds, then the wall alone for empty_seconds."""
    width, height = size
    side = height * 5 // 6
    face = np.asarray(Image.open(ASTRONAUT).convert("RGB").resize((side, side), Image.BILINEAR))
    wall = np.empty((height, width, 3), np.uint8)
    wall[:] = np.linspace(150, 110, height, dtype=np.float32)[:, None, None].astype(np.uint8)
    for i in range(round(face_seconds * fps)):
        frame = wall.copy()
        x = (width - side) // 2 + round(6 * np.sin(i / 9))
        y = (height - side) // 2 + round(3 * np.sin(i / 13))
        frame[y:y + side, x:x + side] = face
        yield frame
    for _ in range(round(empty_seconds * fps)):
        yield wall


def sample_clip(path: Path, face_seconds: float = 4.0, empty_seconds: float = 6.0, fps: int = FPS) -> Path:
    write_y4m(path, sample_frames(face_seconds, empty_seconds, fps), fps)
    return path


@contextmanager
def chromium(clip: Path, *, width: int = 1280, height: int = 900):
    """A headless Chromium (selenium WebDriver) whose camera plays `clip`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                     f"--use-file-for-fake-video-capture={clip}", f"--window-size={width},{height}",
                     "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def start_page(driver, url: str, api_key: str, socket_key: str, server_url: str = "") -> None:
    """Opens the page at `url` and starts it as a user does: the keys (and,
    if given, the server's address) typed in, Start pressed."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    if server_url:
        driver.find_element(By.ID, "server-url").send_keys(server_url)
    driver.find_element(By.ID, "api-key").send_keys(api_key)
    driver.find_element(By.ID, "socket-key").send_keys(socket_key)
    driver.find_element(By.ID, "start").click()

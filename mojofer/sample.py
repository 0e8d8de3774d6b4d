"""The bundled sample picture: NASA's public-domain portrait of astronaut
Eileen Collins (as shipped by scikit-image), one frontal face."""
from pathlib import Path

import numpy as np

SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "astronaut.png"


def load_rgb(path) -> np.ndarray:
    """An image file as a uint8 (H, W, 3) RGB array."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def sample_image() -> np.ndarray:
    """The bundled sample as a uint8 (512, 512, 3) RGB array."""
    return load_rgb(SAMPLE_PATH)


SAMPLE_HEAD = (slice(40, 230), slice(140, 310))  # the portrait's head, 190 x 170 px


def sample_video(path, seconds: float = 2.0, fps: float = 10.0, *, timestamps=None,
                 size: tuple = (640, 360), away: tuple = ()) -> Path:
    """Writes a synthetic clip for trying and testing video analysis: the
    sample's head gliding over a grey canvas (width, height = size), H.264 in
    any container PyAV knows by the suffix (.mp4, .mkv, ...). Frame i is
    shown at timestamps[i] seconds (to the millisecond; increasing), by
    default i / fps for `seconds`. away: (start, end) intervals in seconds
    when the head is out of the picture (start <= t < end), as someone
    leaving and coming back. Needs PyAV (mojofer[video])."""
    try:
        import av
    except ImportError:
        raise OSError("writing video needs PyAV: pip install 'mojofer[video]'") from None
    from fractions import Fraction

    if timestamps is None:
        timestamps = np.arange(round(seconds * fps)) / fps
    head = sample_image()[SAMPLE_HEAD]
    (h, w), (width, height) = head.shape[:2], size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001),
                                      options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for t in timestamps:
            frame = np.full((height, width, 3), 90, np.uint8)
            # a slow figure of eight, so that the tracker follows a moving face
            x = round((width - w) / 2 * (1 + 0.8 * np.sin(2 * np.pi * t / 8)))
            y = round((height - h) / 2 * (1 + 0.5 * np.sin(4 * np.pi * t / 8)))
            if not any(start <= t < end for start, end in away):
                frame[y:y + h, x:x + w] = head
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = round(t * 1000), Fraction(1, 1000)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return Path(path)

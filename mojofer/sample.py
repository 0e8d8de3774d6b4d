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

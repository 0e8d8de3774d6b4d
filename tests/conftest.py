"""Shared fixtures: the bundled sample picture, the research data folder, detectors."""
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mojofer

REPO = Path(__file__).resolve().parent.parent
ASTRONAUT = REPO / "mojofer" / "data" / "astronaut.png"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The research data folder: $MOJOFER_DATA, else ../shared/data beside the repository.

    CI has this folder, so a missing one is a failure, not a skip."""
    env = os.environ.get("MOJOFER_DATA")
    root = Path(env) if env else REPO.parent / "shared" / "data"
    if not (root / "README.md").is_file():
        pytest.fail(f"research data not found at {root} (set MOJOFER_DATA to the folder holding "
                    "landmarks/, detection/, ... or place it at ../shared/data)", pytrace=False)
    return root


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """The public-domain NASA portrait bundled with the package: 512x512 RGB uint8, one face."""
    if not ASTRONAUT.is_file():
        pytest.fail(f"bundled sample image missing: {ASTRONAUT}", pytrace=False)
    frame = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    frame.setflags(write=False)  # shared by tests: nobody may modify it
    return frame


@pytest.fixture(scope="session")
def detector() -> mojofer.FaceDetector:
    return mojofer.FaceDetector()


@pytest.fixture(scope="session")
def landmarker() -> mojofer.Landmarker:
    """The bundled 68-point landmark model."""
    return mojofer.Landmarker()

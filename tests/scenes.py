"""Synthetic video scenes: the bundled portrait's head pasted on a plain canvas."""
import numpy as np
import pytest

BACKGROUND = 90
FACE = (slice(40, 230), slice(140, 310))  # the astronaut's head, 190 x 170 px


@pytest.fixture(scope="module")
def head(astronaut):
    return astronaut[FACE]


def canvas(head, *positions, size=(480, 900)):
    """A frame with the head's top-left corner at each (x, y)."""
    frame = np.full((*size, 3), BACKGROUND, np.uint8)
    h, w = head.shape[:2]
    for x, y in positions:
        frame[y:y + h, x:x + w] = head
    return frame

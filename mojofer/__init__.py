"""mojofer: facial expression and social-cue recognition with a C core."""
from ._core import ModelError
from ._core import versions
from .detect import Box, FaceDetector, detect_faces

__all__ = ["Box", "FaceDetector", "ModelError", "detect_faces", "versions"]
__version__ = "0.1.0"

"""mojofer: facial expression and social-cue recognition with a C core."""
from ._core import ModelError
from .detect import Box, FaceDetector, detect_faces

__all__ = ["Box", "FaceDetector", "ModelError", "detect_faces"]
__version__ = "0.1.0"

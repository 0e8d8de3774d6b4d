"""mojofer: facial expression and social-cue recognition with a C core."""
from ._core import ModelError
from ._core import get_num_threads, set_num_threads, versions
from .detect import Box, FaceDetector, detect_faces
from .expressions import (ACTION_UNITS, BASELINE_SETTLED_FACES, EMOTIONS, Expression,
                          ExpressionClassifier, classify_expression)
from .landmarks import Face, FaceTracker, Landmarker, find_landmarks
from .pose import HeadPose, Pose, head_pose
from .cues import CueEvent, CueParams, Cues, CueState
from .keypoints import KeypointFace, KeypointFrame
from .anonymizer import Anonymizer
from .estimator import Estimate, Estimator
from .analyzer import Analyzer, FaceResult, FrameResult
from .server import Key, Server, serve
from .client import CloudClient, CloudError, CloudResult
from .sample import sample_image, sample_video
from .dataset import analyze_images
from .video import analyze_video
from .evaluation import Evaluation, evaluate
from . import metrics, plot

__all__ = [
    "ACTION_UNITS", "BASELINE_SETTLED_FACES", "EMOTIONS", "Expression", "ExpressionClassifier", "classify_expression",
    "Box", "Face", "FaceDetector", "FaceTracker", "HeadPose", "Landmarker", "ModelError", "Pose",
    "detect_faces", "find_landmarks", "head_pose", "versions", "get_num_threads", "set_num_threads",
    "CueEvent", "CueParams", "CueState", "Cues", "Analyzer", "FaceResult", "FrameResult",
    "Anonymizer", "KeypointFace", "KeypointFrame", "Estimate", "Estimator",
    "Key", "Server", "serve", "CloudClient", "CloudError", "CloudResult", "sample_image",
    "sample_video", "analyze_images", "analyze_video", "Evaluation", "evaluate", "metrics", "plot",
]
__version__ = "0.1.0"

"""The capture stage: frame sources (synthetic scene, OpenCV files/devices/streams, image folders, picamera2).

``open_source(spec, camera)`` is the one way in; picamera2 is imported only when a ``picamera2`` spec asks for it.
"""

from edge_agent.capture.base import Frame, FrameSource, SourceInfo
from edge_agent.capture.factory import describe_spec, open_source
from edge_agent.capture.synthetic import PersonTruth, SceneOptions, SyntheticScene, SyntheticSource

__all__ = [
    "Frame",
    "FrameSource",
    "PersonTruth",
    "SceneOptions",
    "SourceInfo",
    "SyntheticScene",
    "SyntheticSource",
    "describe_spec",
    "open_source",
]

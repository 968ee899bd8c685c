"""The segment stage: redacted frames to self-contained H.264 segments in memory, and reading them back."""

from edge_agent.segment.decode import SegmentProbe, decode_segment, probe_segment
from edge_agent.segment.encoder import SegmentEncoder
from edge_agent.segment.model import Segment, SegmentMeta

__all__ = ["Segment", "SegmentEncoder", "SegmentMeta", "SegmentProbe", "decode_segment", "probe_segment"]

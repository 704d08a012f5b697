"""pertitle: per-title bitrate ladders from real encodes and real VMAF."""

__version__ = "0.1.0"

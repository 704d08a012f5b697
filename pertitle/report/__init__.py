"""Renderers of analysis results: terminal, HTML, images, documents."""

from __future__ import annotations

from pertitle.models import MediaInfo


def scan_note(info: MediaInfo) -> str:
    """What every view adds to the source's description about its scan ("" when progressive)."""
    return ", interlaced (scaled as progressive frames)" if info.interlaced else ""

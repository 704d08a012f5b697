"""Renderers of analysis results: terminal, HTML, images, documents."""

from __future__ import annotations

from collections.abc import Mapping

from pertitle.models import MediaInfo


def scan_note(info: MediaInfo) -> str:
    """What every view adds to the source's description about its scan ("" when progressive)."""
    return ", interlaced (scaled as progressive frames)" if info.interlaced else ""


def deployed_encode(settings: Mapping[str, object]) -> str:
    """How a ladder's renditions are deployed, in the words every view uses for its rungs."""
    return "capped-CRF encode" if settings.get("deploy_rate_control") == "capped_crf" else "two-pass encode"

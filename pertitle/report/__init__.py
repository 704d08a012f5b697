"""Renderers of analysis results: terminal, HTML, images, documents."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from pertitle.models import MediaInfo

# matplotlib (the image renderers, imported after this package) says at import when it cannot write
# its config dir (a home that is not writable, as in some CI containers) and makes a temporary one:
# nothing is wrong with the report, so no line on stderr, and none under -q. Its errors still show.
logging.getLogger("matplotlib").setLevel(logging.ERROR)

# What a terminal acts on rather than shows: C0 controls (newline, tab, ESC, ...), DEL, C1 controls
# (CSI \x9b among them), the Unicode line and paragraph separators, and the bidirectional embeddings,
# overrides and isolates (U+202A-202E, U+2066-2069), which reorder what follows them on the line, so
# that a name could show as another; and lone surrogates, which is how a file name's bytes that are
# not UTF-8 reach Python.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _visible(match: re.Match[str]) -> str:
    c = match.group()
    if "\ud800" <= c <= "\udfff":
        return "?"  # as cache.utf8_text writes it
    return _NAMED_ESCAPES.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def printable(text: str) -> str:
    """Text from outside (a file name, a document's title or names, a message quoting them) as a
    terminal may show it: every control character as a visible escape (\\n, \\t, \\x1b, \\x9b), so
    that what a document holds can neither restyle, move the cursor or clear the screen nor break a
    line or a table row; bidirectional overrides too, so that it cannot show as another name. The
    other characters are left as they are."""
    return _UNPRINTABLE.sub(_visible, text)


def scan_note(info: MediaInfo) -> str:
    """What every view adds to the source's description about its scan ("" when progressive)."""
    return ", interlaced (scaled as progressive frames)" if info.interlaced else ""


def deployed_encode(settings: Mapping[str, object]) -> str:
    """How a ladder's renditions are deployed, in the words every view uses for its rungs."""
    return "capped-CRF encode" if settings.get("deploy_rate_control") == "capped_crf" else "two-pass encode"

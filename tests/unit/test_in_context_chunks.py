"""memory_chunks: the in-context pass splits a ladder of large rungs over several processes."""

from __future__ import annotations

from pertitle.models import EncodeSpec
from pertitle.pipeline import memory_chunks


def spec(width: int, height: int, kbps: float) -> EncodeSpec:
    return EncodeSpec("h264", "faster", width, height, "abr2pass", bitrate_kbps=kbps)


def test_a_ladder_of_small_rungs_is_one_process() -> None:
    ladder = [spec(512, 288, 100), spec(768, 432, 300), spec(1280, 720, 800), spec(1920, 1080, 3000)]
    # 40 frames each: 8.8 + 19.9 + 55.3 + 124.4 MB, far under 2 GB.
    assert memory_chunks(ladder) == [tuple(ladder)]


def test_4k_rungs_are_split_in_order_and_each_chunk_keeps_at_least_one() -> None:
    uhd = [spec(3840, 2160, k) for k in (8000, 12000, 16000, 20000)]  # 497.7 MB each at 40 frames
    chunks = memory_chunks([spec(1920, 1080, 4000), *uhd])
    assert [len(c) for c in chunks] == [4, 1]  # 124.4 + 3 x 497.7 = 1617.5 MB; a fourth 4K is over
    assert [s for c in chunks for s in c] == [spec(1920, 1080, 4000), *uhd]
    assert memory_chunks(uhd, budget_bytes=1.0) == [(s,) for s in uhd]
    assert memory_chunks([]) == []

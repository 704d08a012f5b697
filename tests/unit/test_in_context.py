"""The in-context check's arithmetic: memory_chunks splits a ladder of large rungs over several
processes; _windows_at_their_share aims the windows' encodes at their share of each rung."""

from __future__ import annotations

import pytest

from pertitle.calibrate import _windows_at_their_share, memory_chunks
from pertitle.models import EncodeSpec, Measurement


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


class OvershootingRunner:
    """Stands in for the measuring Runner in a test of the re-aim arithmetic only: every two-pass
    lands 5% over its target, as short two-pass encodes of windows do (the real encodes are
    tested in tests/integration)."""

    def __init__(self) -> None:
        self.targets: list[float] = []

    def run(self, specs: list[EncodeSpec], label: str) -> dict[EncodeSpec, Measurement]:
        out = {}
        for s in specs:
            self.targets.append(s.bitrate_kbps or 0.0)
            out[s] = Measurement((s.bitrate_kbps or 0) * 1.05, 0, 1.0, 24, 50.0, 50.0, 40.0, 45.0, 35.0, 0.9)
        return out


def test_windows_are_encoded_at_their_share_and_re_aimed_once_when_the_two_pass_misses_it() -> None:
    rung = spec(512, 288, 100)
    runner = OvershootingRunner()
    chosen = _windows_at_their_share(runner, {"r": rung}, {"r": 89.4}, "check")  # type: ignore[arg-type]
    assert runner.targets == [89.0, 85.0]  # the share (rounded), then 89 * 89.4 / 93.45
    assert chosen["r"].bitrate_kbps == pytest.approx(85 * 1.05)  # 89.25: 0.2% off, kept over 4.5%


def test_a_share_of_nothing_is_aimed_at_one_kbps_without_dividing_by_zero() -> None:
    runner = OvershootingRunner()
    chosen = _windows_at_their_share(runner, {"r": spec(512, 288, 100)}, {"r": 0.0}, "check")  # type: ignore[arg-type]
    assert runner.targets[0] == 1.0
    assert chosen["r"].bitrate_kbps > 0

"""bytes_per_bin, title_and_window_kbps and frames_span_s: what an encode spent where, and how
long its frames last, on hand-made packet lists."""

from __future__ import annotations

import pytest

from pertitle.encode import bytes_per_bin, title_and_window_kbps
from pertitle.models import SampleWindow


def test_packets_fall_into_the_bin_of_their_time_from_the_first_packet() -> None:
    # Bins of 2 s from t=10: [10, 12) gets 100 + 50, [12, 14) 7, [14, 16) 1000 (t=14.0 exactly).
    packets = [(10.0, 100), (11.96, 50), (12.5, 7), (14.0, 1000)]
    assert bytes_per_bin(packets, 2.0) == (150.0, 7.0, 1000.0)


def test_packet_order_does_not_matter_and_empty_bins_count_zero() -> None:
    packets = [(5.0, 3), (0.0, 1), (0.5, 2)]
    assert bytes_per_bin(packets, 1.0) == (3.0, 0.0, 0.0, 0.0, 0.0, 3.0)


def test_no_packets_no_bins_and_the_bin_must_be_positive() -> None:
    assert bytes_per_bin([], 4.0) == ()
    with pytest.raises(ValueError, match="positive"):
        bytes_per_bin([(0.0, 1)], 0.0)


# --- title_and_window_kbps: what a whole-title encode spends inside the sampled windows ---------


def test_title_and_window_rates_from_packets_counted_from_the_first_one() -> None:
    # A 4 s title whose packets start at t=10; one window of 1 s at 1 s (t 11.0-12.0 in the file).
    # Bytes: 1000 at 0 s, 250 + 250 inside the window, 500 at 2.0 s, 2000 at 3.5 s: 4000 in all.
    packets = [(10.0, 1000), (11.0, 250), (11.5, 250), (12.0, 500), (13.5, 2000)]
    title, window = title_and_window_kbps(packets, [SampleWindow(0, 1.0, 1.0)], 4.0)
    assert title == pytest.approx(4000 * 8 / 4.0 / 1000)  # 8 kbps
    assert window == pytest.approx(500 * 8 / 1.0 / 1000)  # 4 kbps: the frame at 2.0 s is the next stretch's


def test_several_windows_pool_their_bytes_and_time() -> None:
    packets = [(0.0, 100), (1.0, 300), (2.0, 100), (3.0, 500)]
    windows = [SampleWindow(0, 0.0, 1.0), SampleWindow(1, 3.0, 1.0)]
    title, window = title_and_window_kbps(packets, windows, 4.0)
    assert (title, window) == (pytest.approx(2.0), pytest.approx(2.4))  # 1000 B / 4 s; 600 B / 2 s


def test_window_rates_need_packets_windows_and_a_duration() -> None:
    with pytest.raises(ValueError):
        title_and_window_kbps([], [SampleWindow(0, 0.0, 1.0)], 4.0)
    with pytest.raises(ValueError):
        title_and_window_kbps([(0.0, 1)], [], 4.0)


# --- frames_span_s: how long a window reference's frames are shown ------------------------------


def test_frames_span_runs_from_the_first_frame_to_the_last_ones_end() -> None:
    from pertitle.jobs import frames_span_s

    # Out of order, the last frame (t=0.9) shown 0.1 s: 0.5 -> 1.0.
    assert frames_span_s([(0.9, 0.1, 5), (0.5, 0.04, 5), (0.7, 0.2, 5)], 25.0) == pytest.approx(0.5)
    # A frame of unknown duration lasts 1/fps; with no fps either, nothing.
    assert frames_span_s([(2.0, 0.0, 1), (3.0, 0.0, 1)], 4.0) == pytest.approx(1.25)
    assert frames_span_s([(2.0, 0.0, 1), (3.0, 0.0, 1)], 0.0) == pytest.approx(1.0)
    assert frames_span_s([], 25.0) == 0.0


def test_a_window_reference_is_short_only_in_both_time_and_frames() -> None:
    from pertitle.jobs import cut_short

    # 2 s of windows at 25 fps: short means under 45 frames and under 1.8 s.
    evenly = [(i / 25, 0.04, 1) for i in range(50)]
    assert not cut_short(evenly, 25.0, 2.0)
    slow = [(i / 8, 0.125, 1) for i in range(16)]  # a slow stretch: 16 frames over 2 s
    assert not cut_short(slow, 25.0, 2.0)
    held = [(i / 25, 0.04, 1) for i in range(40)] + [(1.6, 0.04, 1)] * 10  # 50 frames in 1.64 s
    assert not cut_short(held, 25.0, 2.0)
    missed = [(i / 25, 0.04, 1) for i in range(25)]  # a seek that read one second of two
    assert cut_short(missed, 25.0, 2.0)
    assert cut_short([], 25.0, 2.0)
    assert not cut_short([], 0.0, 2.0)  # the rate unknown: nothing to hold it to

"""bytes_per_bin: the cheap pass's cost per stretch of the title, on hand-made packet lists."""

from __future__ import annotations

import pytest

from pertitle.encode import bytes_per_bin


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

"""Median and 90th percentile of days to close, read off a histogram, worked out by hand."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter

from tracker.stats.query import DaysToClose, days_to_close_of


def test_an_odd_count_takes_the_middle_closing():
    # 0, 1, 1, 2, 9: the third is 1; the 90th percentile by nearest rank is the ceil(4.5) = 5th, 9.
    result = days_to_close_of(Counter({0: 1, 1: 2, 2: 1, 9: 1}))
    assert (result.count, result.median, result.p90) == (5, 1, 9)


def test_an_even_count_takes_the_mean_of_the_two_middle_closings():
    # 1, 2, 4, 4, 5, 7: (4 + 4) / 2; the 90th percentile is the ceil(5.4) = 6th, 7.
    assert days_to_close_of(Counter({4: 2, 1: 1, 2: 1, 7: 1, 5: 1})) == DaysToClose(6, 4.0, 7)
    # 3, 8: the mean falls between them; the 90th percentile is the 2nd.
    assert days_to_close_of(Counter({8: 1, 3: 1})) == DaysToClose(2, 5.5, 8)


def test_ten_closings_put_the_90th_percentile_on_the_ninth():
    result = days_to_close_of(Counter(dict.fromkeys(range(1, 11), 1)))
    assert (result.median, result.p90) == (5.5, 9)


def test_nothing_closed_has_no_median():
    assert days_to_close_of(Counter()) == DaysToClose(0, None, None)
    # Groups that cancel out to nothing count as nothing.
    assert days_to_close_of(Counter({3: 0})) == DaysToClose(0, None, None)


def test_it_agrees_with_sorting_every_closing():
    rng = random.Random(5)
    for _ in range(300):
        histogram = Counter({rng.randrange(0, 60): rng.randrange(1, 40) for _ in range(rng.randrange(1, 12))})
        closings = sorted(histogram.elements())
        expected = DaysToClose(
            len(closings), statistics.median(closings), closings[math.ceil(0.9 * len(closings)) - 1]
        )
        assert days_to_close_of(histogram) == expected

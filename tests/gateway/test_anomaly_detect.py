"""Spike detection on synthetic hourly series: real spikes flagged; weekly seasonality and a slow
rise not."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gateway.anomaly_detect import DetectionPolicy, evaluate, poisson_upper_tail

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00
HOUR = timedelta(hours=1)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _series(weeks: int, mean_at: Callable[[int, datetime], float], seed: int = 7) -> dict[datetime, int]:
    rng = random.Random(seed)
    return {START + i * HOUR: _poisson(rng, mean_at(i, START + i * HOUR)) for i in range(weeks * 7 * 24)}


def _weekly(hour: datetime) -> float:
    """Office hours busy, nights quiet, Monday 9-10 am a big peak every week."""
    if hour.weekday() == 0 and hour.hour == 9:
        return 60.0
    if hour.weekday() < 5 and 8 <= hour.hour < 18:
        return 12.0
    return 1.0


def _flagged(series: dict[datetime, int], from_week: int = 1) -> list[datetime]:
    hours = sorted(series)
    return [h for h in hours[from_week * 7 * 24 :] if evaluate(series, h).spike]


def test_a_real_spike_is_flagged_with_its_baseline() -> None:
    series = _series(3, lambda _i, _h: 3.0)
    spike_at = START + timedelta(days=17, hours=14)
    series[spike_at] = 47
    verdict = evaluate(series, spike_at)
    assert verdict.spike
    assert verdict.observed == 47
    assert 1.5 < verdict.baseline < 6
    assert verdict.score > 4
    assert _flagged(series) == [spike_at]


def test_a_spike_on_top_of_weekly_seasonality_is_flagged_at_a_quiet_hour() -> None:
    series = _series(4, lambda _i, h: _weekly(h))
    spike_at = START + timedelta(days=23, hours=3)  # Tuesday 3 am, normally about 1
    series[spike_at] = 25
    assert evaluate(series, spike_at).spike


def test_weekly_seasonality_is_not_flagged() -> None:
    series = _series(6, lambda _i, h: _weekly(h))
    assert _flagged(series) == []
    monday_nine = START + timedelta(weeks=5, hours=9)
    verdict = evaluate(series, monday_nine)
    assert verdict.method == "seasonal"
    assert verdict.baseline > 40


def test_a_slow_rise_is_not_flagged() -> None:
    # +2% a day for 8 weeks (about x3), with the weekly pattern on top.
    series = _series(8, lambda i, h: _weekly(h) * 1.02 ** (i / 24), seed=11)
    assert _flagged(series) == []


def test_first_week_uses_the_global_ewma_and_no_history_is_no_spike() -> None:
    series = _series(1, lambda _i, _h: 4.0)
    at = START + timedelta(days=3)
    series[at] = 40
    verdict = evaluate(series, at)
    assert verdict.method == "ewma"
    assert verdict.spike
    assert not evaluate({START: 50}, START).spike


def test_minimum_count_guards_small_series() -> None:
    series = {START + i * HOUR: 0 for i in range(4 * 7 * 24 + 10)}
    at = START + (4 * 7 * 24 + 10) * HOUR
    series[at] = 6  # unlikely after four weeks of zeros, but below min_count
    assert not evaluate(series, at).spike
    assert evaluate(series, at, DetectionPolicy(min_count=5)).spike


def test_poisson_tail() -> None:
    assert poisson_upper_tail(0, 3.0) == 1.0
    assert math.isclose(poisson_upper_tail(1, 3.0), 1 - math.exp(-3.0))
    assert poisson_upper_tail(47, 3.0) < 1e-30
    assert 0.4 < poisson_upper_tail(100, 100.0) < 0.6

"""Spike detection on hourly counts: a pure function of one series, tested on synthetic series.

For the hour being judged (``hour``, the start of a finished hour) the baseline is:

- **seasonal** (at least one earlier week of history): the mean count of the same hour of the week
  in up to ``weeks`` previous weeks, scaled by a **trend ratio**: the counts of the ``trend_hours``
  hours before ``hour`` divided by what the same hours had in those previous weeks (clamped to
  ``[1/max_trend, max_trend]``). A Monday 9 am peak is expected because last Mondays peaked too; a
  slow rise lifts the ratio, so the baseline follows it.
- **global EWMA** (less than a week of history): an exponentially weighted mean of every earlier
  hour (``alpha``), no seasonality yet.

The baseline never falls below ``floor``. The hour is a spike when all hold: the count is at
least ``min_count``, at least ``min_ratio`` times the baseline, and its upper tail p-value is below
``significance``. For the seasonal baseline the test compares two Poisson counts (so a baseline
learnt from one or two weeks is not trusted more than it deserves): given the hour's count ``x``
and the same hours' total ``y`` over ``n`` earlier weeks, ``x ~ Binomial(x + y, r / (n + r))``
with ``r`` the trend ratio. For the EWMA it is ``P(X >= x)`` for ``X ~ Poisson(baseline)``.
``score`` is ``-log10`` of the p-value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class DetectionPolicy:
    """Thresholds of `evaluate` (see the module docstring)."""

    weeks: int = 4
    trend_hours: int = 24
    max_trend: float = 3.0
    alpha: float = 0.1
    floor: float = 0.5
    min_count: int = 10
    min_ratio: float = 2.0
    significance: float = 1e-4


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one hour of one series."""

    hour: datetime
    observed: int
    baseline: float
    p_value: float
    spike: bool
    method: str

    @property
    def score(self) -> float:
        """``-log10(p_value)``, capped at 300."""
        return min(300.0, -math.log10(max(self.p_value, 1e-300)))


def poisson_upper_tail(count: int, mean: float) -> float:
    """``P(X >= count)`` for ``X ~ Poisson(mean)``, summed in log space (exact enough for tests
    against 1e-4 and far smaller)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    if count <= mean:
        return 1.0 - _lower(count, mean)
    log_mean = math.log(mean)
    total = 0.0
    k = count
    while True:
        term = math.exp(k * log_mean - mean - math.lgamma(k + 1))
        total += term
        if term < total * 1e-15 or k > count + 100_000:
            return min(1.0, total)
        k += 1


def _lower(count: int, mean: float) -> float:
    """``P(X < count)``."""
    log_mean = math.log(mean)
    return min(1.0, sum(math.exp(k * log_mean - mean - math.lgamma(k + 1)) for k in range(count)))


def binomial_upper_tail(count: int, trials: int, p: float) -> float:
    """``P(B >= count)`` for ``B ~ Binomial(trials, p)``, summed in log space."""
    if count <= 0:
        return 1.0
    if count > trials or p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(trials + 1)
    total = 0.0
    for k in range(count, trials + 1):
        term = math.exp(
            base - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p + (trials - k) * log_q
        )
        total += term
        if k > trials * p and term < total * 1e-15:
            break
    return min(1.0, total)


@dataclass(frozen=True, slots=True)
class Baseline:
    """The expected count and what it was learnt from (``weeks`` 0: the EWMA)."""

    expected: float
    method: str
    weeks: int = 0
    same_hours: int = 0
    ratio: float = 1.0


def baseline_for(
    series: Mapping[datetime, int], hour: datetime, policy: DetectionPolicy, start: datetime
) -> Baseline:
    """The expected count at ``hour`` from the hours before it (counting since ``start``: hours
    without an entry count 0)."""
    earlier = [w for w in range(1, policy.weeks + 1) if start <= hour - w * WEEK]
    if earlier:
        same_hours = sum(series.get(hour - w * WEEK, 0) for w in earlier)
        seasonal = same_hours / len(earlier)
        trend = policy.trend_hours * HOUR
        compared = [w for w in earlier if start <= hour - w * WEEK - trend]
        ratio = 1.0
        if compared:
            recent = sum(series.get(hour - h * HOUR, 0) for h in range(1, policy.trend_hours + 1))
            before = sum(
                series.get(hour - w * WEEK - h * HOUR, 0)
                for w in compared
                for h in range(1, policy.trend_hours + 1)
            ) / len(compared)
            ratio = (recent + 1.0) / (before + 1.0)
        ratio = max(1.0 / policy.max_trend, min(policy.max_trend, ratio))
        expected = max(policy.floor, seasonal * ratio)
        return Baseline(expected, "seasonal", len(earlier), same_hours, ratio)
    return Baseline(max(policy.floor, _ewma(series, hour, policy.alpha, start)), "ewma")


def _ewma(series: Mapping[datetime, int], hour: datetime, alpha: float, start: datetime) -> float:
    level = float(series.get(start, 0))
    at = start + HOUR
    while at < hour:
        level = alpha * series.get(at, 0) + (1 - alpha) * level
        at += HOUR
    return level


def evaluate(
    series: Mapping[datetime, int],
    hour: datetime,
    policy: DetectionPolicy | None = None,
    *,
    start: datetime | None = None,
) -> Verdict:
    """Judge ``series[hour]`` against the baseline of the hours before it (module docstring).
    ``series`` maps hour starts (aware, on the hour) to counts; hours from ``start`` (default the
    series' first hour: when counting began) without an entry count 0. No history, no spike."""
    policy = policy or DetectionPolicy()
    observed = series.get(hour, 0)
    first = min(series, default=hour) if start is None else start
    history = first < hour
    base = baseline_for(series, hour, policy, first) if history else Baseline(policy.floor, "none")
    if base.weeks:
        share = base.ratio / (base.weeks + base.ratio)
        p_value = binomial_upper_tail(observed, observed + base.same_hours, share)
    else:
        p_value = poisson_upper_tail(observed, base.expected)
    spike = (
        history
        and observed >= policy.min_count
        and observed >= policy.min_ratio * base.expected
        and p_value < policy.significance
    )
    return Verdict(hour, observed, round(base.expected, 3), p_value, spike, base.method)

"""One token cannot take the API from everyone else (issue #21: four 500-event previews at once
held every request for 24 s)."""

from __future__ import annotations

import pytest

from services.api.http.rate_limit import PREVIEW_COST, RateLimited, TokenBuckets


def test_a_burst_is_served_then_the_token_waits_what_it_overdrew() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_s=2000, burst=10_000, clock=lambda: now[0])
    buckets.take("t", 500 * PREVIEW_COST)  # two 500-event previews at once
    buckets.take("t", 500 * PREVIEW_COST)
    with pytest.raises(RateLimited) as third:
        buckets.take("t", 500 * PREVIEW_COST)
    assert third.value.retry_after_s == 3  # 5,000 units at 2,000 a second
    buckets.take("other", 500 * PREVIEW_COST)  # another token is not held back
    now[0] = 2.4
    with pytest.raises(RateLimited):  # refused takes nothing: still 4,800 short of 5,000
        buckets.take("t", 500 * PREVIEW_COST)
    now[0] = 2.5
    buckets.take("t", 500 * PREVIEW_COST)  # waited as told: served


def test_steady_submissions_far_above_real_use_are_never_limited() -> None:
    now = [0.0]
    buckets = TokenBuckets(per_s=2000, burst=10_000, clock=lambda: now[0])
    for step in range(600):  # 500 single events a second for 60 s
        now[0] = step * 0.1
        buckets.take("t", 50)


def test_zero_means_no_limit() -> None:
    buckets = TokenBuckets(per_s=0, burst=0)
    for _ in range(100):
        buckets.take("t", 10**9)

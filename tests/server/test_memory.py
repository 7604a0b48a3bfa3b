"""MemoryReleaser: when a drained queue's memory is handed back (pure unit, fake collector)."""

from __future__ import annotations

from gear.server.memory import MIN_PEAK, MemoryReleaser


class Collector:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_a_growing_queue_is_never_collected() -> None:
    collect = Collector()
    releaser = MemoryReleaser(collect)
    for held in range(0, 1_000_000, 1000):
        assert releaser.poll(held) is False
    assert collect.calls == 0
    assert releaser.peak == 999_000


def test_a_fall_to_a_quarter_of_a_large_peak_collects_once_and_restarts_the_peak() -> None:
    collect = Collector()
    releaser = MemoryReleaser(collect)
    releaser.poll(400_000)
    assert releaser.poll(100_001) is False
    assert releaser.poll(100_000) is True
    assert (collect.calls, releaser.peak, releaser.collections) == (1, 100_000, 1)
    assert releaser.poll(90_000) is False  # a quarter of the new peak is 25,000
    assert collect.calls == 1


def test_a_small_peak_is_not_worth_a_collection() -> None:
    collect = Collector()
    releaser = MemoryReleaser(collect)
    releaser.poll(MIN_PEAK - 1)
    assert releaser.poll(0) is False
    assert collect.calls == 0


def test_draining_a_million_jobs_costs_a_handful_of_collections() -> None:
    collect = Collector()
    releaser = MemoryReleaser(collect)
    releaser.poll(1_000_000)
    for held in range(1_000_000, -1, -500):
        releaser.poll(held)
    # at 250,000, 62,500, 15,500 and 3,500 jobs held; then the peak is too small
    assert collect.calls == 4
    assert releaser.peak == 3_500


def test_the_peak_follows_a_queue_that_grows_again() -> None:
    collect = Collector()
    releaser = MemoryReleaser(collect, min_peak=100)
    releaser.poll(1000)
    releaser.poll(250)
    assert collect.calls == 1
    releaser.poll(2000)
    releaser.poll(499)
    assert collect.calls == 2

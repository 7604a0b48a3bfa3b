"""MemoryReleaser: when survivors are frozen and full collections run (pure unit, fake gc)."""

from __future__ import annotations

from gear.server.memory import MIN_PEAK, SWEEP_POLLS, MemoryReleaser


class FakeGC:
    """Records the calls MemoryReleaser makes instead of the gc module's."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def collect(self) -> int:
        self.calls.append("collect")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    @property
    def collections(self) -> int:
        return self.calls.count("collect")


def test_a_growing_queue_is_never_collected() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake)
    for held in range(0, 1_000_000, 1000):
        assert releaser.poll(held) is False
    assert fake.calls == []
    assert releaser.peak == 999_000


def test_a_fall_to_a_quarter_of_a_large_peak_collects_once_and_restarts_the_peak() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake)
    releaser.poll(400_000)
    assert releaser.poll(100_001) is False
    assert releaser.poll(100_000) is True
    assert (fake.calls, releaser.peak, releaser.collections) == (["collect"], 100_000, 1)
    assert releaser.poll(90_000) is False  # a quarter of the new peak is 25,000
    assert fake.collections == 1


def test_a_small_peak_is_not_worth_a_collection() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake)
    releaser.poll(MIN_PEAK - 1)
    assert releaser.poll(0) is False
    assert fake.calls == []


def test_draining_a_million_jobs_costs_a_handful_of_collections() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake)
    releaser.poll(1_000_000)
    for held in range(1_000_000, -1, -500):
        releaser.poll(held)
    # at 250,000, 62,500, 15,500 and 3,500 jobs held; then the peak is too small
    assert fake.collections == 4
    assert releaser.peak == 3_500


def test_the_peak_follows_a_queue_that_grows_again() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake, min_peak=100)
    releaser.poll(1000)
    releaser.poll(250)
    assert fake.collections == 1
    releaser.poll(2000)
    releaser.poll(499)
    assert fake.collections == 2


def test_freezing_freezes_survivors_at_each_poll_and_thaws_them_for_a_full_collection() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake, freeze=True)
    releaser.poll(40_000)
    releaser.poll(50_000)
    assert fake.calls == ["freeze", "freeze"]
    fake.calls.clear()
    assert releaser.poll(10_000) is True
    assert fake.calls == ["unfreeze", "collect", "freeze"]


def test_freezing_sweeps_everything_every_few_minutes_while_few_jobs_are_held() -> None:
    fake = FakeGC()
    releaser = MemoryReleaser(fake, freeze=True)
    for _ in range(SWEEP_POLLS - 1):
        assert releaser.poll(5) is False
    assert fake.collections == 0
    assert releaser.poll(5) is True
    assert fake.calls[-3:] == ["unfreeze", "collect", "freeze"]
    # a busy server is not swept: the fall rule covers it
    for _ in range(SWEEP_POLLS * 2):
        releaser.poll(MIN_PEAK * 3)
    assert fake.collections == 1

"""SUBMIT_JOB_SCHED schedules: cron fields and the next matching minute.

Times are local, as in cron, so every test pins the time zone: ``UTC+3``
without DST by default, and a central-European rule with DST where the
change of offset matters.  POSIX TZ strings need no tzdata.  Expected times
are written as local ``datetime``s; one test also spells the UTC instant out,
which proves the schedule is read in local time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from gear.server.cron import CronError, next_run, parse_field

PLUS3 = "GST-3"  # UTC+3 all year
CET = "CET-1CEST,M3.5.0,M10.5.0/3"  # Europe/Berlin's rule


def _set_tz(monkeypatch: pytest.MonkeyPatch, tz: str) -> Iterator[None]:
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        yield
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.fixture(autouse=True)
def plus3(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from _set_tz(monkeypatch, PLUS3)


@pytest.fixture
def cet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from _set_tz(monkeypatch, CET)


def local(*parts: int) -> float:
    """Epoch seconds of a local wall-clock time."""
    return datetime(*parts).timestamp()  # type: ignore[arg-type]


def run(spec: str, after: float) -> datetime:
    return datetime.fromtimestamp(next_run(spec.split(" "), after))


# -------------------------------------------------------------- parse_field --
MINUTE, HOUR, MDAY, MONTH, WDAY = range(5)


@pytest.mark.parametrize(
    ("text", "index", "values"),
    [
        ("*", MINUTE, set(range(60))),
        ("", HOUR, set(range(24))),
        (" * ", MDAY, set(range(1, 32))),
        ("*", MONTH, set(range(1, 13))),
        ("*", WDAY, set(range(7))),
        ("7", MINUTE, {7}),
        ("1-5", WDAY, {1, 2, 3, 4, 5}),
        ("1,15,31", MDAY, {1, 15, 31}),
        ("1-3,10-12", MONTH, {1, 2, 3, 10, 11, 12}),
        ("*/15", MINUTE, {0, 15, 30, 45}),
        ("10-20/5", MINUTE, {10, 15, 20}),
        ("5/20", MINUTE, {5, 25, 45}),  # a start with a step runs to the top
        ("*/6", HOUR, {0, 6, 12, 18}),
        ("0-23/12,5", HOUR, {0, 5, 12}),
        ("1, 2", HOUR, {1, 2}),
        ("7", WDAY, {0}),  # 7 is Sunday too
        ("0,7", WDAY, {0}),
        ("5-7", WDAY, {0, 5, 6}),
        ("59", MINUTE, {59}),
        ("31", MDAY, {31}),
    ],
)
def test_parse_field(text: str, index: int, values: set[int]) -> None:
    assert parse_field(text, index) == frozenset(values)


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("60", MINUTE),
        ("24", HOUR),
        ("0", MDAY),
        ("32", MDAY),
        ("0", MONTH),
        ("13", MONTH),
        ("8", WDAY),
        ("5-1", MINUTE),
        ("*/0", MINUTE),
        ("1-", HOUR),
        ("-1", HOUR),
        ("x", MINUTE),
        ("1/x", MINUTE),
        ("mon", WDAY),
        ("1-2-3", HOUR),
        ("1.5", HOUR),
    ],
)
def test_parse_field_errors(text: str, index: int) -> None:
    with pytest.raises(CronError):
        parse_field(text, index)


@pytest.mark.parametrize("text", ["1,,2", "1,"])
def test_empty_list_element_is_an_error(text: str) -> None:
    with pytest.raises(CronError):
        parse_field(text, MINUTE)


def test_non_ascii_digit_is_a_cron_error() -> None:
    with pytest.raises(CronError):
        parse_field("²", MINUTE)


def test_cron_error_is_a_value_error() -> None:
    assert issubclass(CronError, ValueError)


# ----------------------------------------------------------------- next_run --
def test_every_minute_is_the_next_whole_minute() -> None:
    assert run("* * * * *", local(2024, 1, 1, 10, 0, 30)) == datetime(2024, 1, 1, 10, 1)


def test_strictly_after_a_matching_minute() -> None:
    assert run("0 10 * * *", local(2024, 1, 1, 10, 0)) == datetime(2024, 1, 2, 10, 0)
    assert run("* * * * *", local(2024, 1, 1, 10, 0)) == datetime(2024, 1, 1, 10, 1)


def test_schedule_is_local_time() -> None:
    after = local(2024, 1, 1, 10, 0)
    when = next_run(["30", "12", "*", "*", "*"], after)
    assert when == local(2024, 1, 1, 12, 30)
    assert when == datetime(2024, 1, 1, 9, 30, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("spec", "after", "expected"),
    [
        ("*/15 * * * *", (2024, 1, 1, 10, 16), (2024, 1, 1, 10, 30)),
        ("0 9-17/4 * * *", (2024, 1, 1, 10, 0), (2024, 1, 1, 13, 0)),
        ("5,55 23 * * *", (2024, 1, 1, 23, 6), (2024, 1, 1, 23, 55)),
        ("0 0 1 * *", (2024, 1, 15, 8, 0), (2024, 2, 1, 0, 0)),
        ("0 0 * 3 *", (2024, 4, 1, 0, 0), (2025, 3, 1, 0, 0)),
        ("59 23 31 12 *", (2024, 1, 1, 0, 0), (2024, 12, 31, 23, 59)),
        ("0 0 29 2 *", (2025, 1, 1, 0, 0), (2028, 2, 29, 0, 0)),
        ("0 0 31 * *", (2024, 4, 1, 0, 0), (2024, 5, 31, 0, 0)),  # April has 30 days
        # 2024-01-03 is a Wednesday
        ("0 8 * * 1", (2024, 1, 3, 12, 0), (2024, 1, 8, 8, 0)),
        ("0 8 * * 0", (2024, 1, 3, 12, 0), (2024, 1, 7, 8, 0)),
        ("0 8 * * 7", (2024, 1, 3, 12, 0), (2024, 1, 7, 8, 0)),
        ("0 8 * * 3", (2024, 1, 3, 7, 59), (2024, 1, 3, 8, 0)),
    ],
)
def test_next_run(spec: str, after: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert run(spec, local(*after)) == datetime(*expected)  # type: ignore[arg-type]


# 2024-02-10 is a Saturday; the 13th is a Tuesday, the next Friday the 16th
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0 0 13 * 5", (2024, 2, 13)),  # both restricted: the 13th OR a Friday
        ("0 0 16 * 2", (2024, 2, 13)),  # ... whichever comes first
        ("0 0 13 * *", (2024, 2, 13)),  # day of week '*': the day of month alone
        ("0 0 * * 5", (2024, 2, 16)),  # day of month '*': the day of week alone
        ("0 0 16 * *", (2024, 2, 16)),
    ],
)
def test_day_of_month_or_day_of_week(spec: str, expected: tuple[int, int, int]) -> None:
    assert run(spec, local(2024, 2, 10, 12, 0)) == datetime(*expected)


def test_month_limits_both_day_rules() -> None:
    # 2024-01-05 is the first Friday; in September the Friday (6th) beats the 13th
    assert run("0 0 13 * 5", local(2024, 1, 1)) == datetime(2024, 1, 5)
    assert run("0 0 13 9 5", local(2024, 1, 1)) == datetime(2024, 9, 6)
    assert run("0 0 13 9 *", local(2024, 1, 1)) == datetime(2024, 9, 13)


def test_star_step_day_of_month_is_not_restricted() -> None:
    # crontab(5): '*/2' days AND Mondays -> the first odd-numbered Monday
    # 2024-02-10 is a Saturday; Mondays: 12th, 19th, 26th, Mar 4th -> 19th is odd
    assert run("0 0 */2 * 1", local(2024, 2, 10, 12, 0)) == datetime(2024, 2, 19)


def test_dst_change_is_handled_in_local_time(cet: None) -> None:
    # Europe moves from +01:00 to +02:00 at 2024-03-31 02:00
    after = local(2024, 3, 30, 13, 0)
    when = next_run(["0", "12", "*", "*", "*"], after)
    assert datetime.fromtimestamp(when) == datetime(2024, 3, 31, 12, 0)
    assert when == datetime(2024, 3, 31, 10, 0, tzinfo=UTC).timestamp()
    assert when - after == timedelta(hours=22).total_seconds()


@pytest.mark.parametrize("spec", ["0 0 30 2 *", "0 0 31 4 *", "0 0 31 2,4,6,9,11 *"])
def test_impossible_dates_raise(spec: str) -> None:
    with pytest.raises(CronError, match="five years"):
        next_run(spec.split(" "), local(2024, 1, 1))


@pytest.mark.parametrize("fields", [[], ["*"] * 4, ["*"] * 6])
def test_five_fields_are_required(fields: list[str]) -> None:
    with pytest.raises(CronError, match="five fields"):
        next_run(fields, local(2024, 1, 1))


def test_bad_field_raises_cron_error() -> None:
    with pytest.raises(CronError, match="hour"):
        next_run(["0", "25", "*", "*", "*"], local(2024, 1, 1))

"""When a SUBMIT_JOB_SCHED job runs: the next time matching its cron fields.

Strategy: the five fields (minute, hour, day of month, month, day of week)
each accept what crontab(5) does — empty or ``*`` for any value, a number,
``a-b`` ranges, ``,`` lists and ``/step`` — and are expanded into sets.  The
search walks forward minute by minute but skips whole days and months that
cannot match, so it ends within a few hundred steps.  Times are local, as in
cron.  A job runs once, at the first match strictly after submission.
"""

from __future__ import annotations

from datetime import datetime, timedelta

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
_NAMES = ("minute", "hour", "day of month", "month", "day of week")
_HORIZON_DAYS = 366 * 5


class CronError(ValueError):
    """A cron field that cannot be read."""


def parse_field(text: str, index: int) -> frozenset[int]:
    """The values a cron field allows.

    Raises:
        CronError: the field is malformed or out of range.
    """
    low, high = _RANGES[index]
    text = text.strip()
    if text in ("", "*"):
        return frozenset(range(low, high + 1))
    values: set[int] = set()
    for part in text.split(","):
        if not part.strip():
            raise CronError(f"{_NAMES[index]}: empty element in {text!r}")
        values.update(_parse_part(part.strip(), low, high, _NAMES[index]))
    if index == 4 and 7 in values:
        values.discard(7)
        values.add(0)
    return frozenset(values)


def _parse_part(part: str, low: int, high: int, name: str) -> range:
    step = 1
    if "/" in part:
        part, step_text = part.split("/", 1)
        step = _number(step_text, name)
        if step < 1:
            raise CronError(f"{name}: step must be positive")
    if part in ("", "*"):
        first, last = low, high
    elif "-" in part:
        a, b = part.split("-", 1)
        first, last = _number(a, name), _number(b, name)
    else:
        first = _number(part, name)
        last = high if step > 1 else first
    top = 7 if name == "day of week" else high
    if not (low <= first <= last <= top):
        raise CronError(f"{name}: {part!r} is outside {low}-{high}")
    return range(first, last + 1, step)


def _number(text: str, name: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()):
        raise CronError(f"{name}: {text!r} is not a number")
    return int(text)


def next_run(fields: list[str], after: float) -> float:
    """The epoch time of the first minute after ``after`` matching ``fields``.

    Args:
        fields: minute, hour, day of month, month, day of week.
        after: epoch seconds.

    Raises:
        CronError: a field is malformed, or nothing matches within five years.
    """
    if len(fields) != 5:
        raise CronError("a schedule has five fields")
    minutes, hours, mdays, months, wdays = (parse_field(f, i) for i, f in enumerate(fields))
    # crontab(5): a day field is "restricted" unless it starts with '*'; when
    # both are restricted, either may match
    any_mday = _unrestricted(fields[2])
    any_wday = _unrestricted(fields[4])
    t = datetime.fromtimestamp(after).replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = t + timedelta(days=_HORIZON_DAYS)
    while t < limit:
        if t.month not in months:
            t = (t.replace(day=1) + timedelta(days=32)).replace(day=1, hour=0, minute=0)
            continue
        if not _day_matches(t, mdays, wdays, any_mday, any_wday):
            t = (t + timedelta(days=1)).replace(hour=0, minute=0)
            continue
        if t.hour not in hours:
            t = (t + timedelta(hours=1)).replace(minute=0)
            continue
        if t.minute in minutes:
            return t.timestamp()
        t += timedelta(minutes=1)
    raise CronError("the schedule matches no time in the next five years")


def _unrestricted(field: str) -> bool:
    text = field.strip()
    return text == "" or text.startswith("*")


def _day_matches(
    t: datetime, mdays: frozenset[int], wdays: frozenset[int], any_mday: bool, any_wday: bool
) -> bool:
    in_mday = t.day in mdays
    in_wday = (t.isoweekday() % 7) in wdays
    if any_mday or any_wday:
        return in_mday and in_wday
    return in_mday or in_wday

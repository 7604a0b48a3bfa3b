"""The table of differential cases and the rule that judges each one.

Strategy: a case is a script function registered with ``@case(...)``.  Its
kind says how the two servers' masked transcripts (``wire.view``) are
judged:

* **same** (the default): gear's transcript equals C gearmand's, line for line.
* **documented** (``c=`` and ``gear=`` given): gear deliberately differs.  The
  lines where the transcripts differ must be exactly ``c`` on C's side and
  exactly ``gear`` on gear's; every other line is identical.  So C's bytes
  are recorded in the case and gear's behaviour is asserted.
* **xfail** (``xfail=`` and ``c=`` given): an undocumented difference that
  looks like a gear bug.  C's lines must still read ``c``; then gear must
  equal C, which today raises ``GearDiffers``, the only failure the
  ``xfail(strict=True, raises=GearDiffers)`` marker accepts.  A fixed gear
  turns the case into XPASS, which strict mode reports as a failure, so the
  marker gets removed.  ``gear=`` records today's bytes for the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.interop.wire import Script

Run = Callable[[Script], None]


class GearDiffers(AssertionError):
    """gear's transcript differs from C gearmand's where it should not."""


@dataclass(frozen=True)
class Case:
    """One scripted session, run against both servers."""

    name: str
    run: Run
    #: what the case checks (and, for differences, why they are expected)
    doc: str
    #: needs its own servers: it lists the whole server or waits for disconnects
    fresh: bool = False
    #: C's side of the lines that differ (documented and xfail cases)
    c: tuple[str, ...] = ()
    #: gear's side of the lines that differ (documented cases; today's bytes for xfail)
    gear: tuple[str, ...] = ()
    #: why gear's difference is suspected to be a bug
    xfail: str | None = None
    #: extra checks on the raw transcript: (server kind, pid, script) -> None
    check: Callable[[str, int, Script], None] | None = None

    @property
    def kind(self) -> str:
        if self.xfail:
            return "xfail"
        return "documented" if self.c or self.gear else "same"


CASES: dict[str, Case] = {}


def case(
    *,
    fresh: bool = False,
    c: Sequence[str] = (),
    gear: Sequence[str] = (),
    xfail: str | None = None,
    check: Callable[[str, int, Script], None] | None = None,
) -> Callable[[Run], Run]:
    """Register a script function as a differential case named after it."""

    def register(fn: Run) -> Run:
        name = fn.__name__
        assert name not in CASES, f"duplicate case {name}"
        doc = " ".join((fn.__doc__ or "").split())
        assert doc, f"case {name} needs a docstring saying what it checks"
        CASES[name] = Case(name, fn, doc, fresh, tuple(c), tuple(gear), xfail, check)
        return fn

    return register


def differing(c_view: list[str], gear_view: list[str]) -> tuple[list[str], list[str]]:
    """The lines that differ, C's side and gear's side, in transcript order."""
    assert len(c_view) == len(gear_view), "a script must make the same steps on both servers"
    pairs = [(a, b) for a, b in zip(c_view, gear_view, strict=True) if a != b]
    return [a for a, _ in pairs], [b for _, b in pairs]


def judge(case: Case, c_view: list[str], gear_view: list[str]) -> None:
    """Assert the case's rule on the two masked transcripts."""
    c_lines, gear_lines = differing(c_view, gear_view)
    if case.kind == "same":
        assert gear_view == c_view
    elif case.kind == "documented":
        assert c_lines == list(case.c), "C gearmand's side of the documented difference"
        assert gear_lines == list(case.gear), "gear's side of the documented difference"
    else:
        missing = [line for line in case.c if line not in c_view]
        assert not missing, f"C gearmand no longer sends {missing}"
        if gear_view != c_view:
            raise GearDiffers(f"C: {c_lines}\ngear: {gear_lines}")


def all_cases() -> dict[str, Case]:
    """Every registered case (importing the modules that define them)."""
    from tests.interop import cases_admin, cases_binary, cases_session  # noqa: F401

    return CASES


def summary() -> str:
    """How many cases there are, by kind."""
    cases = all_cases().values()
    kinds = {k: sum(1 for c in cases if c.kind == k) for k in ("same", "documented", "xfail")}
    detail = ", ".join(f"{n} {k}" for k, n in kinds.items())
    return f"gear vs C gearmand differential cases: {len(cases)} ({detail})"

"""gear serve against C gearmand 1.1.20: the same scripted sessions, byte for byte.

Every case in ``registry.CASES`` (defined in ``cases_admin``, ``cases_binary``
and ``cases_session``) runs once against C gearmand and once against gear
serve; the masked transcripts must match line for line, except where a case
records a documented difference (C's bytes and gear's asserted) or a
suspected gear bug (``xfail(strict=True)`` asserting C's bytes).  The number
of cases is printed in the pytest header and checked by
``test_enough_cases``; ``pytest -v`` shows one test per case.
"""

from __future__ import annotations

import pytest

from tests.interop.conftest import Peer
from tests.interop.registry import Case, GearDiffers, all_cases, judge, summary
from tests.interop.wire import Script, view

pytestmark = pytest.mark.peer

#: the two servers, C first: its bytes are the reference
KINDS = ("gearmand", "gear")


def _param(case: Case) -> object:
    marks = []
    if case.xfail:
        marks.append(pytest.mark.xfail(strict=True, raises=GearDiffers, reason=case.xfail))
    return pytest.param(case, id=case.name, marks=marks)


def run_case(case: Case, peer: Peer) -> list[str]:
    """Run one case's script against one server; its masked transcript."""
    script = Script(peer.port, ns=case.name, fresh=case.fresh)
    try:
        case.run(script)
    finally:
        script.close()
    if case.check is not None:
        case.check(peer.kind, peer.pid, script)
    return view(script)


@pytest.mark.parametrize("case", [_param(c) for c in all_cases().values()])
def test_differential(case: Case, request: pytest.FixtureRequest) -> None:
    """The case's transcripts from C gearmand and gear obey its rule (registry.judge)."""
    if case.fresh:
        peers: dict[str, Peer] = request.getfixturevalue("fresh_servers")
    else:
        peers = {
            "gearmand": request.getfixturevalue("gearmand"),
            "gear": request.getfixturevalue("gear_server"),
        }
    views = {kind: run_case(case, peers[kind]) for kind in KINDS}
    judge(case, views["gearmand"], views["gear"])


def test_enough_cases() -> None:
    """The differential suite keeps at least 40 cases, of which most must match C."""
    cases = all_cases().values()
    print(summary())
    assert len(cases) >= 40
    assert sum(c.kind == "same" for c in cases) > len(cases) // 2

"""The server state machine (tests/hardening/stateful.py), bounded for the suite.

About 60 runs of up to 40 steps, a few seconds; ``GEAR_FUZZ_EXAMPLES`` or
``bench/fuzz.py`` run it longer.
"""

from __future__ import annotations

from tests.hardening.stateful import ServerMachine, machine_settings

ServerMachine.TestCase.settings = machine_settings(60)
TestServerMachine = ServerMachine.TestCase

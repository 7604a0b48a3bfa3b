"""``gear serve``'s first line names the build that runs, at the default log level."""

from __future__ import annotations

import subprocess
import sys

from gear import build


def test_first_line_names_the_build_next_to_the_address() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gear", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
    finally:
        proc.terminate()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert f"({build.describe()}): listening on 127.0.0.1:" in first, first

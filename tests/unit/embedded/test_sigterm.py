"""exit_on_sigterm: a program stopped with SIGTERM still runs its clean-up (its `with` blocks, atexit)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROGRAM = textwrap.dedent(
    """
    import contextlib, sys, time
    from pathlib import Path
    from signal_monitor.embedded.process import exit_on_sigterm

    if sys.argv[2] == "handled":
        exit_on_sigterm()
    done = Path(sys.argv[1])
    try:
        print("ready", flush=True)
        time.sleep(30)
    finally:
        done.write_text("stopped its services")
    """
)


@pytest.mark.parametrize(("mode", "cleaned", "code"), [("handled", True, 143), ("default", False, -signal.SIGTERM)])
def test_sigterm_runs_the_clean_up_only_when_turned_into_an_exit(tmp_path: Path, mode: str, cleaned: bool, code: int) -> None:
    done = tmp_path / "done"
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, str(done), mode], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == code
    finally:
        if proc.poll() is None:
            proc.kill()
    assert done.exists() is cleaned

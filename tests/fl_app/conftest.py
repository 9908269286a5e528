"""Waiting on processes the tests start: bounded, and ending on an event."""

import selectors
import subprocess
import time

import pytest


@pytest.fixture(scope="session")
def wait_for():
    """``wait_for(event, timeout)``: poll ``event()`` until it holds (True) or ``timeout``
    seconds have passed (False)."""

    def wait(event, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not event():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    return wait


@pytest.fixture(scope="session")
def read_until():
    """``read_until(proc, want, timeout)``: the first output line of ``proc`` containing
    ``want``, and the lines before it; AssertionError with what it printed if none comes
    within ``timeout`` seconds."""

    def read(proc: subprocess.Popen, want: str, timeout: float) -> tuple[str, list[str]]:
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(timeout=0.25):
                    continue
                line = proc.stdout.readline()
                if not line:
                    break
                if want in line:
                    return line, seen
                seen.append(line)
        raise AssertionError(
            f"no {want!r} from the command within {timeout:.0f} s; it printed:\n{''.join(seen)}"
        )

    return read

"""`kizuna local up` in a process of its own, as a person runs it: for end-to-end tests and
benchmarks that must measure the stack apart from whatever drives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Self

ENDPOINTS_FILE = "endpoints.json"


def kizuna_command() -> str:
    """The `kizuna` script installed beside this interpreter."""
    return str(Path(sys.executable).parent / "kizuna")


def clean_environment() -> dict[str, str]:
    """This process's environment without AWS or Kizuna settings (the stack sets its own)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIZUNA_"))}


def peak_rss_mib(pid: int) -> float:
    """The highest resident memory the process has had (VmHWM), in MiB; 0 once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class LocalUpProcess:
    """Starts `kizuna local up` on free ports with `state_dir`, waits until it serves."""

    def __init__(self, state_dir: Path, cwd: Path, *, schedules: bool = False) -> None:
        self.state_dir = state_dir
        self.cwd = cwd
        self.schedules = schedules
        self.process: subprocess.Popen[bytes] | None = None
        self.api = ""

    def start(self, timeout: float = 120) -> Self:
        endpoints = self.state_dir / ENDPOINTS_FILE
        endpoints.unlink(missing_ok=True)
        command = [kizuna_command(), "local", "up", "--state-dir", str(self.state_dir)]
        command += ["--port", "0", "--moto-port", "0"]
        if not self.schedules:
            command.append("--no-schedules")
        self.process = subprocess.Popen(  # noqa: S603 - our own installed script
            command,
            cwd=self.cwd,
            env=clean_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not endpoints.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"kizuna local up exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("kizuna local up did not come up")
            time.sleep(0.5)
        self.api = str(json.loads(endpoints.read_text())["api"])
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kizuna(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `kizuna … --local` command against this stack."""
        return subprocess.run(  # noqa: S603 - our own installed script
            [kizuna_command(), *args, "--local", "--state-dir", str(self.state_dir)],
            cwd=self.cwd,
            env=clean_environment(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 300) -> int:
        """Send `sig` (SIGTERM: a graceful stop; SIGKILL: a crash) and wait for the exit."""
        assert self.process is not None
        self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()

"""A fresh interpreter in the services folder: what a cold Lambda starts from."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"


def run_fresh(probe: str, *args: str) -> str:
    """Run `probe` in a new interpreter (local sandbox settings, no AWS credentials
    needed); its standard output."""
    result = subprocess.run(
        [sys.executable, "-c", probe, *args],
        cwd=SERVICES,
        capture_output=True,
        text=True,
        check=False,
        env={
            "KIZUNA_SANDBOX": "true",
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "ap-northeast-1",
        },
    )
    assert result.returncode == 0, result.stderr
    return result.stdout

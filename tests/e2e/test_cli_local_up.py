"""`kizuna local up` as a person runs it: a process that serves the API until stopped,
and the `--local` commands that talk to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ops.local.process import LocalUpProcess

pytestmark = pytest.mark.e2e
KIZUNA = str(Path(sys.executable).parent / "kizuna")


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KIZUNA, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_local_up_serves_until_stopped(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KIZUNA_"))}
    # Given `kizuna local up` running on free ports
    server = subprocess.Popen(
        [
            KIZUNA,
            "local",
            "up",
            "--state-dir",
            str(state),
            "--port",
            "0",
            "--moto-port",
            "0",
            "--no-schedules",
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        endpoints_file = state / "endpoints.json"
        deadline = time.monotonic() + 90
        while not endpoints_file.exists():
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "local stack did not come up"
            time.sleep(0.5)
        api = json.loads(endpoints_file.read_text())["api"]

        # When a shop is created against it and a schedule is fired
        assert httpx.get(f"{api}/_local/health", timeout=60).status_code == 200
        created = _run(
            "shop",
            "create",
            "cli-shop",
            "--name",
            "CLI Shop",
            "--local",
            "--state-dir",
            str(state),
            cwd=repo,
        )
        fired = _run("local", "fire", "JourneyDispatcher", "--state-dir", str(state), cwd=repo)

        # Then the printed key works against the running API
        assert created.returncode == 0, created.stdout + created.stderr
        token = created.stdout.strip().splitlines()[-1]
        keys = httpx.get(
            f"{api}/v1/admin/keys", headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        assert keys.status_code == 200 and len(keys.json()) == 1
        assert fired.returncode == 0, fired.stdout + fired.stderr
        assert "due_steps" in fired.stdout
    finally:
        # When it is stopped, it drains and exits cleanly
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    assert not (state / "endpoints.json").exists()


def test_what_was_answered_survives_a_sigkill(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    state = tmp_path / "state"
    # Given a running stack where a shop was created and a second key issued (answered)
    stack = LocalUpProcess(state, repo).start()
    try:
        created = stack.kizuna("shop", "create", "kill-shop", "--name", "K")
        assert created.returncode == 0, created.stdout + created.stderr
        token = created.stdout.strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        issued = httpx.post(
            f"{stack.api}/v1/admin/keys",
            json={"name": "bi", "scopes": ["segments:read"]},
            headers=auth,
            timeout=60,
        )
        assert issued.status_code == 201, issued.text
    finally:
        # When the process is killed, with no chance to snapshot or flush anything
        stack.stop(signal.SIGKILL)

    # Then a new stack on the same state still knows the shop and both keys
    with LocalUpProcess(state, repo) as again:
        keys = httpx.get(f"{again.api}/v1/admin/keys", headers=auth, timeout=60)
        assert keys.status_code == 200, keys.text
        assert len(keys.json()) == 2
        assert "bi" in {k["name"] for k in keys.json()}
        assert again.stop() == 0

"""Screenshot the Prefect UI's approval form of a paused retrain run, as a reviewer sees it.

    .venv/bin/python tests/e2e/approval_form_screenshot.py [OUTPUT_DIR]   (needs Debian's chromium)

It starts a Prefect server in a temporary home, makes a champion (a tiny demo run), starts a
second run with ``--approval required`` and a policy that promotes it, waits until that run is
Paused, then opens the run's page in headless Chromium, presses Resume through the DevTools
protocol and saves the page with its form (``approval-form.png``, and ``paused-run.png`` before
the press). The run is then rejected, so everything ends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

TINY = [
    "--demo-size", "300", "--epochs", "1", "--maxlen", "20", "--units", "4",
    "--embedding-dim", "4", "--no-xla",
]  # fmt: skip
PROMOTES_ANY = [
    "--promotion-policy", "not_worse", "--min-accuracy-gain", "-1",
    "--significance-level", "1e-300", "--min-accuracy", "0",
]  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise SystemExit(f"timed out waiting for {what}")


def paused_run(api: str) -> str | None:
    body = {"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}
    runs = httpx.post(f"{api}/flow_runs/filter", json=body).json()
    return runs[0]["id"] if runs else None


async def shoot(debug_port: int, url: str, out: Path) -> None:
    """Open ``url``, save it, press the Resume button, save the form."""
    tabs = httpx.get(f"http://127.0.0.1:{debug_port}/json").json()
    page = next(tab for tab in tabs if tab["type"] == "page")
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=2**26) as socket:
        counter = 0

        async def call(method: str, **params):
            nonlocal counter
            counter += 1
            await socket.send(json.dumps({"id": counter, "method": method, "params": params}))
            while True:
                reply = json.loads(await socket.recv())
                if reply.get("id") == counter:
                    return reply.get("result", {})

        async def save(name: str) -> None:
            shot = await call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            (out / name).write_bytes(base64.b64decode(shot["data"]))
            print(f"wrote {out / name}")

        await call("Emulation.setDeviceMetricsOverride", width=1400, height=1600,
                   deviceScaleFactor=1, mobile=False)  # fmt: skip
        await call("Page.navigate", url=url)
        await asyncio.sleep(8)
        await save("paused-run.png")
        clicked = await call(
            "Runtime.evaluate",
            expression=(
                "(() => { const b = [...document.querySelectorAll('button')]"
                ".find(e => e.innerText.trim() === 'Resume'); if (b) b.click(); return !!b; })()"
            ),
            returnByValue=True,
        )
        if not clicked.get("result", {}).get("value"):
            raise SystemExit("no Resume button on the run's page")
        await asyncio.sleep(4)
        await save("approval-form.png")


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "approval-screenshots").resolve()
    out.mkdir(parents=True, exist_ok=True)
    root = Path(__file__).resolve().parents[2]
    retrain = str(root / ".venv" / "bin" / "retrain")
    with tempfile.TemporaryDirectory() as work:
        port, debug_port = free_port(), free_port()
        api = f"http://127.0.0.1:{port}/api"
        env = {
            **os.environ,
            "PREFECT_HOME": f"{work}/prefect",
            "RETRAIN_HOME": f"{work}/home",
            "PREFECT_API_URL": api,
            "PREFECT_UI_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("MLFLOW_TRACKING_URI", None)
        started = []
        try:
            started.append(subprocess.Popen(
                [str(root / ".venv" / "bin" / "prefect"), "server", "start", "--host",
                 "127.0.0.1", "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            wait_for(lambda: _healthy(f"{api}/health"), 180, "the Prefect server")
            subprocess.run([retrain, "run", *TINY, "--seed", "1", "--min-accuracy", "0"],
                           env=env, check=True, capture_output=True)  # fmt: skip
            started.append(subprocess.Popen(
                [retrain, "run", *TINY, "--seed", "2", *PROMOTES_ANY, "--approval", "required"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            run_id = wait_for(lambda: paused_run(api), 300, "the run to pause")
            time.sleep(3)  # The run saves its form's description just after it pauses.
            started.append(subprocess.Popen(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 f"--remote-debugging-port={debug_port}", f"--user-data-dir={work}/chrome",
                 "about:blank"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            ))  # fmt: skip
            wait_for(
                lambda: _healthy(f"http://127.0.0.1:{debug_port}/json/version"), 60, "chromium"
            )
            asyncio.run(shoot(debug_port, f"http://127.0.0.1:{port}/runs/flow-run/{run_id}", out))
            httpx.post(
                f"{api}/flow_runs/{run_id}/resume",
                json={"run_input": {"decision": "reject", "reviewer": "screenshot"}},
            )
            started[1].wait(timeout=120)
        finally:
            for process in reversed(started):
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()

"""Dashboard responsiveness under load: three browser sessions while a job runs.

Starts the dashboard (``streamlit run``) on a free local port, optionally starts a background job (a tiny
training run that keeps the CPU busy), opens three headless-Chromium sessions at once, and in each visits the
pages that do no forward pass (Pairs, Tune, Evaluate, Compare) several times. For each page it reports the
median and worst time from the click in the sidebar to Streamlit's "running" indicator going away, across all
sessions. Needs Debian's ``chromium`` and the ``playwright`` Python package (both in ``make test``'s setup).

    python bench/dashboard_load.py                 # measure while your own job runs (start one first)
    python bench/dashboard_load.py --busy-job      # start a CPU-bound job for the measurement
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ("Pairs", "Tune", "Evaluate", "Compare")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_dashboard(port: int, runs: Path) -> subprocess.Popen:
    env = {**os.environ, "RRS_RUNS": str(runs)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"),
                             "--server.headless", "true", "--server.port", str(port),
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the dashboard did not start within 90 s")


def _busy_job(base: Path) -> subprocess.Popen:
    """A tiny-model training run with many epochs: a job that keeps both cores busy."""
    sys.path.insert(0, str(ROOT))
    from rrs.testing import save_tiny, tiny_qwen2_audio

    ckpt = save_tiny(tiny_qwen2_audio(seed=0), base / "ckpt")
    pairs = base / "pairs.csv"
    pairs.write_text("harmful,benign,category\n" + "".join(
        f"How do I hurt animal {i}?,How do I help animal {i}?,c{i % 3}\n" for i in range(60)))
    env = {**os.environ, "RRS_CACHE": str(base / "cache")}
    return subprocess.Popen([sys.executable, "-m", "rrs", "train", "--model", str(ckpt), "--pairs", str(pairs),
                             "--epochs", "200", "--device", "cpu", "--dtype", "float32", "--out", str(base / "busy")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _session(url: str, rounds: int, chromium: str, out: dict[str, list[float]], lock: threading.Lock) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url)
        page.wait_for_selector('[data-testid="stSidebarNav"]', timeout=120_000)
        for _ in range(rounds):
            for name in PAGES:
                start = time.perf_counter()
                page.locator('[data-testid="stSidebarNav"]').get_by_text(name, exact=True).click()
                page.get_by_role("heading", name=name).first.wait_for(timeout=120_000)
                page.wait_for_timeout(50)
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                       timeout=120_000)
                with lock:
                    out.setdefault(name, []).append(time.perf_counter() - start)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="visits of every page per session")
    parser.add_argument("--busy-job", action="store_true", help="start a CPU-bound training job first")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        job = _busy_job(base) if args.busy_job else None
        port = _free_port()
        dash = _start_dashboard(port, base / "runs")
        try:
            times: dict[str, list[float]] = {}
            lock = threading.Lock()
            threads = [threading.Thread(target=_session, args=(f"http://127.0.0.1:{port}", args.rounds, chromium,
                                                                times, lock)) for _ in range(args.sessions)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            job_alive = job is not None and job.poll() is None
        finally:
            dash.terminate()
            if job is not None:
                job.terminate()
    rows = {name: {"n": len(v), "median_s": round(statistics.median(v), 3), "max_s": round(max(v), 3)}
            for name, v in times.items()}
    print(f"{args.sessions} sessions × {args.rounds} visits per page"
          + (" while a training job ran" if job_alive else ""))
    print("| page | visits | median s | worst s |\n|---|---|---|---|")
    for name in PAGES:
        r = rows.get(name)
        if r:
            print(f"| {name} | {r['n']} | {r['median_s']:.2f} | {r['max_s']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "rounds": args.rounds, "pages": rows}, indent=1))


if __name__ == "__main__":
    main()

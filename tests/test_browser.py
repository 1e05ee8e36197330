"""A real browser visits every dashboard page (headless Chromium driven by Playwright).

The dashboard runs with ``streamlit run`` on a free local port. The test loads the embedded model on the
Model page, then walks the other pages through the sidebar (one browser session, so the model stays
loaded), asserts each page's key element and that no Streamlit exception box is shown, and takes a
screenshot of each page: into a temporary folder, or into ``$RRS_SCREENSHOTS`` when set (the README's
pictures: ``RRS_SCREENSHOTS=docs/screenshots make test-browser``). Needs Debian's ``chromium``
(``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = [("Pairs", "Pairs"), ("Features", "Features"), ("Tune", "Tune"), ("Evaluate", "Evaluate"), ("Steer", "Steer"),
         ("Compare", "Compare")]

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    runs = tmp_path_factory.mktemp("runs")  # empty: the pages show the recorded results that ship with the project
    env = {**os.environ, "RRS_RUNS": str(runs)}
    env.pop("RRS_RECORDED", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


def _settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_timeout(800)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
    )
    page.wait_for_timeout(500)


def _no_exception(page, name: str) -> None:
    boxes = page.locator('[data-testid="stException"]')
    assert boxes.count() == 0, f"{name}: Streamlit exception shown: {boxes.first.inner_text()[:500]}"


def test_every_page_renders_in_chromium(server, tmp_path):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("RRS_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(server)
        _settle(page)
        assert page.get_by_role("heading", name="Model").first.is_visible()
        assert page.get_by_text("No model loaded yet").first.is_visible()
        _no_exception(page, "Model (empty)")
        page.get_by_role("button", name="Load model").click()
        page.get_by_text("Refusal token").first.wait_for(timeout=300_000)
        _settle(page)
        _no_exception(page, "Model (loaded)")
        assert page.get_by_text("embedded").first.is_visible()
        page.screenshot(path=str(shots / "model.png"), full_page=True)
        for link, heading in PAGES:
            page.locator('[data-testid="stSidebarNav"]').get_by_text(link, exact=True).click()
            _settle(page)
            page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
            _no_exception(page, link)
            if link in ("Tune", "Compare"):  # a first-time user sees a finished, recorded result at once
                page.get_by_text("Reproduce it with").first.wait_for(timeout=60_000)
            if link == "Tune":
                page.get_by_text("ASR and ORR of sampled answers").first.wait_for(timeout=60_000)
            page.screenshot(path=str(shots / f"{link.lower()}.png"), full_page=True)
        browser.close()

"""Helpers of the dashboard page tests (Streamlit ``AppTest``): open a page, read what it shows, wait for jobs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from rrs.runs import ACTIVE_STATES, Job

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
TIMEOUT = 180  # seconds per script run: the first one imports torch, plotly, pandas on a busy CPU


def page(name: str) -> str:
    return str(ROOT / "pages" / f"{name}.py")


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(name: str, checkpoint: str | Path | None = None) -> AppTest:
    """``pages/<name>.py`` run once, with ``checkpoint`` as the model loaded on the Model page."""
    at = AppTest.from_file(page(name), default_timeout=TIMEOUT)
    if checkpoint is not None:
        at.session_state["model_key"] = (str(checkpoint), "cpu", "float32")
    return run(at)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


def charts(at: AppTest) -> list:
    return list(at.get("plotly_chart"))


def figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def wait_job(folder: Path, limit: float = 240.0) -> dict:
    """The job's status once it is no longer active."""
    start = time.time()
    while time.time() - start < limit:
        status = Job(folder).state()
        if status["state"] not in ACTIVE_STATES:
            return status
        time.sleep(1.0)
    raise AssertionError(f"job in {folder} still running after {limit:.0f}s:\n{Job(folder).log()}")


def stop_job(folder: Path) -> None:
    """Stop a job a test started and wait until its process is gone (killed if it does not listen)."""
    start = time.time()
    while time.time() - start < 120:
        force = time.time() - start > 60
        if not Job(folder).stop(force=force) and Job(folder).state()["state"] not in ACTIVE_STATES:
            return
        time.sleep(2.0)
    raise AssertionError(f"could not stop the job in {folder}")


def ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]

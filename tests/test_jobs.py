"""Background jobs: listing runs and reading a job's true state from its files and the process table."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from rrs.jobs import job_state, list_runs, stop_job


def test_list_runs_newest_first_includes_just_launched_jobs(tmp_path):
    for name, started in (("old", 100.0), ("new", 300.0), ("mid", 200.0)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "job.json").write_text(json.dumps({"pid": 1, "started": started}))
    (tmp_path / "mid" / "config.json").write_text("{}")
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "job.json").write_text("{}")
    (tmp_path / "stray").mkdir()
    assert [p.name for p in list_runs(tmp_path)] == ["new", "mid", "old"]
    assert list_runs(tmp_path / "missing") == []


def test_job_state_reports_died_and_relaunched_jobs(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "status.json").write_text(json.dumps({"state": "running", "pid": dead.pid, "updated": time.time()}))
    state = job_state(tmp_path)
    assert state["state"] == "died" and "resume" in state["message"]
    assert stop_job(tmp_path) is False

    # A relaunch: job.json is newer than the old "stopped" status and its process is alive.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "status.json").write_text(json.dumps({"state": "stopped", "pid": dead.pid, "updated": 1.0}))
        (tmp_path / "job.json").write_text(json.dumps({"pid": live.pid, "started": time.time()}))
        state = job_state(tmp_path)
        assert state["state"] == "starting" and state["pid"] == live.pid
    finally:
        live.kill()
        live.wait()


def test_force_stop_kills_a_job_that_ignores_the_request(tmp_path):
    code = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"
    stubborn = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        (tmp_path / "job.json").write_text(json.dumps({"pid": stubborn.pid, "started": time.time()}))
        time.sleep(0.5)
        assert stop_job(tmp_path) is True  # SIGINT: ignored
        time.sleep(0.5)
        assert stubborn.poll() is None
        assert stop_job(tmp_path, force=True) is True
        assert stubborn.wait(timeout=10) != 0
        assert job_state(tmp_path)["state"] not in ("starting", "running")
    finally:
        if stubborn.poll() is None:
            stubborn.kill()

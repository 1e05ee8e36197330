"""Jobs (``rrs.runs.job``): listing runs, a job's true state from its files and the process table, stopping."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from rrs.runs.job import Job, list_runs


def job_state(folder, kind="train"):
    return Job(folder, kind).state()


def stop_job(folder, force=False):
    return Job(folder).stop(force)


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


def test_done_checks_per_kind_and_names(tmp_path):
    from rrs.runs.job import check_name, new_folder

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for kind in ("eval", "steer", "train"):
        folder = tmp_path / kind
        folder.mkdir()
        (folder / "job.json").write_text(json.dumps({"pid": dead.pid, "started": time.time(), "kind": kind}))
    (tmp_path / "eval" / "results.json").write_text("{}")
    (tmp_path / "steer" / "steering.json").write_text("{}")  # vectors.safetensors missing
    assert Job(tmp_path / "eval").state()["state"] == "done"
    assert Job(tmp_path / "steer").state()["state"] == "died"
    (tmp_path / "steer" / "vectors.safetensors").write_bytes(b"")
    assert Job(tmp_path / "steer").state()["state"] == "done"
    assert Job(tmp_path / "train").state()["state"] == "died"
    for bad in ("../etc", "evals", ""):
        with pytest.raises(ValueError):
            check_name(bad)
    (tmp_path / "runs" / "evals" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "evals" / "taken" / "log.txt").write_text("x")
    with pytest.raises(ValueError, match="already exists"):
        new_folder("eval", "taken", tmp_path / "runs")
    assert new_folder("eval", "free", tmp_path / "runs") == tmp_path / "runs" / "evals" / "free"


def test_a_started_job_runs_from_its_config_and_restarts(tmp_path):
    from rrs.runs.configs import EvalJob

    folder = tmp_path / "evals" / "bad"
    cfg = EvalJob(model=str(tmp_path / "no-such-model"))
    job = Job.start("eval", cfg, folder)
    assert EvalJob.load(folder / "config.json") == cfg
    command = json.loads((folder / "job.json").read_text())["command"]
    assert command[-5:] == ["eval", "--config", str(folder / "config.json"), "--out", str(folder)]
    start = time.time()
    while job.state()["state"] in ("starting", "running") and time.time() - start < 120:
        time.sleep(0.5)
    assert job.state()["state"] == "failed" and "no-such-model" in job.log()
    first = json.loads((folder / "job.json").read_text())["pid"]
    job.restart()
    assert json.loads((folder / "job.json").read_text())["pid"] != first

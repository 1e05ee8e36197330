"""rrs.store: atomic writes, tolerant reads and the file names of a run folder."""

from __future__ import annotations

import json

import pytest

from rrs.paths import PROJECT_ROOT
from rrs.store import RunFolder, atomic_write, atomic_write_json, read_json, read_jsonl, sha256_file


def test_an_interrupted_write_leaves_the_old_file(tmp_path):
    path = atomic_write_json(tmp_path / "a" / "x.json", {"v": 1})

    def broken(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write("{half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, broken)
    assert read_json(path) == {"v": 1} and [p.name for p in path.parent.iterdir()] == ["x.json"]
    assert len(sha256_file(path)) == 64


def test_tolerant_reads(tmp_path):
    assert read_json(tmp_path / "missing.json", {}) == {}
    (tmp_path / "torn.json").write_text("{")
    assert read_json(tmp_path / "torn.json") is None
    (tmp_path / "m.jsonl").write_text('{"a": 1}\n{"a": 2}\n{"a"')
    assert read_jsonl(tmp_path / "m.jsonl") == [{"a": 1}, {"a": 2}] and read_jsonl(tmp_path / "none") == []


def test_run_folder_names_epochs_and_status(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert run.config.name == "config.json" and run.results.name == "results.json"
    assert run.snapshot(3).name == "epoch_003.safetensors" and run.projection("tsne", ".log").name == "tsne.log"
    for epoch in (2, 1, 3):
        run.checkpoint(epoch).mkdir(parents=True)
        run.snapshot(epoch).parent.mkdir(exist_ok=True)
        run.snapshot(epoch).write_bytes(b"")
    (run.checkpoint(1) / "COMPLETE").write_text("1.5")
    (run.checkpoint(3) / "COMPLETE").write_text("1.5")
    assert run.completed_epochs() == [1, 3] and [e for e, _ in run.snapshot_files()] == [1, 2, 3]
    run.write_status(state="running", step=1)
    run.write_status(step=2)
    status = json.loads(run.status.read_text())
    assert status["state"] == "running" and status["step"] == 2 and status["updated"] > 0
    assert run.read_config() == {} and run.read_metrics() == []
    assert run.epochs_seconds() == 3.0  # the finished epochs' markers
    (run.path / "timings.jsonl").write_text(
        '{"epoch": 0, "probe_seconds": 100.0}\n{"epoch": 1, "probe_seconds": 2.0}\n{"epoch": 1, "train_seconds": 5.5}\n')
    assert run.epochs_seconds() == 7.5  # a bundle keeps timings whole (and the epoch-0 probe is not an epoch)


def _holder(folder):
    """Another process that takes the folder's lock and sleeps."""
    import subprocess
    import sys
    import time

    code = ("import sys, time; from rrs.store import folder_lock\n"
            "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True,
                            cwd=str(PROJECT_ROOT))
    assert proc.stdout.readline().strip() == "held"
    time.sleep(0.1)
    return proc


def test_a_second_job_on_a_folder_is_refused_and_a_killed_holder_frees_it(tmp_path):
    import signal
    import subprocess
    import sys

    from rrs.store import FolderBusy, folder_in_use, folder_lock

    folder = tmp_path / "run"
    with folder_lock(folder):  # free: taken and released
        pass
    assert not folder_in_use(folder)
    proc = _holder(folder)
    try:
        assert folder_in_use(folder)
        with pytest.raises(FolderBusy, match="in use by another job"):
            with folder_lock(folder):
                pass
        # The CLI refuses with exit code 2 and writes nothing into the busy folder.
        (folder / "status.json").write_text('{"state": "running"}')
        cli = subprocess.run([sys.executable, "-m", "rrs", "project", "--run", str(tmp_path / "nowhere"),
                              "--out", str(folder)], capture_output=True, text=True, cwd=str(PROJECT_ROOT))
        assert cli.returncode == 2 and "in use by another job" in cli.stderr and "Traceback" not in cli.stderr
        assert (folder / "status.json").read_text() == '{"state": "running"}'
        from rrs.runs import Job  # the dashboard's Resume is refused too, before it launches anything

        with pytest.raises(FolderBusy):
            Job(folder, "project").restart()
        assert not (folder / "job.json").exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not folder_in_use(folder)  # the OS released the dead holder's lock


def test_a_write_that_runs_out_of_space_keeps_the_last_good_file(tmp_path, capsys, monkeypatch):
    import errno

    from rrs.store import DiskFull

    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"epoch": 1})

    def full_disk(tmp):
        with open(tmp, "w") as f:
            f.write('{"epoch": 2, "half')  # part of the new version reached the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DiskFull, match="previous version is intact"):
        atomic_write(path, full_disk)
    assert read_json(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left behind
    # The CLI says so in one line (exit 2, no traceback) when a job's write fails that way.
    from rrs import cli

    def failing(args):
        atomic_write(path, full_disk)

    monkeypatch.setattr(cli, "cmd_report", failing)
    assert cli.main(["report", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "no space left" in err and "Traceback" not in err

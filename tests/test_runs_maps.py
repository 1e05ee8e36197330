"""Maps computed in the background (``rrs.runs.maps``): ``python -m rrs project`` as a job inside the run."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rrs import projection
from rrs.runs import maps
from rrs.runs.configs import ProjectionJob
from rrs.store import RunFolder

EPOCHS, POINTS = 3, 24


def test_background_computation_fills_the_cache(tmp_path):
    from safetensors.numpy import save_file

    run = RunFolder(tmp_path / "run")
    run.snapshots.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for epoch in range(EPOCHS):
        save_file({"representations": rng.standard_normal((POINTS, 16)).astype(np.float32)},
                  str(run.snapshot(epoch)))
    job = maps.start_projection(run.path, "tsne")
    assert job is not None and maps.start_projection(run.path, "tsne") is None  # one at a time
    start = time.time()
    while maps.projection_pending(run.path, "tsne") and time.time() - start < 120:
        time.sleep(0.5)
    emap = projection.load_projection(run.path, "tsne")
    log = maps.projection_log(run.path, "tsne").read_text()
    assert emap is not None and emap.fresh and emap.coords.shape == (EPOCHS, POINTS, 2), log
    assert "tsne: 3 epochs" in log and job.state()["state"] == "done"
    assert maps.project(ProjectionJob(run=str(tmp_path / "empty"))).endswith("has no snapshots yet")
    with pytest.raises(ValueError, match="unknown projection"):
        ProjectionJob(run="runs/x", method="mds")

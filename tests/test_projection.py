"""rrs.projection: stable 2-D maps across epochs and the on-disk cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from rrs import projection

N_FIXED, N_MOVING, HIDDEN, EPOCHS = 12, 12, 16, 3


def _snapshots() -> list[np.ndarray]:
    """Points 0..N_FIXED-1 never move; the others drift further every epoch."""
    rng = np.random.default_rng(0)
    fixed = rng.standard_normal((N_FIXED, HIDDEN)).astype(np.float32)
    moving = rng.standard_normal((N_MOVING, HIDDEN)).astype(np.float32)
    drift = rng.standard_normal((N_MOVING, HIDDEN)).astype(np.float32)
    return [np.concatenate([fixed, moving + 0.7 * e * drift]) for e in range(EPOCHS)]


@pytest.fixture(scope="module")
def maps() -> dict[str, np.ndarray]:
    snaps = _snapshots()
    return {method: projection.project_epochs(snaps, method, seed=0) for method in projection.METHODS}


@pytest.mark.parametrize("method", projection.METHODS)
def test_every_method_gives_epochs_by_points_by_two(maps, method):
    coords = maps[method]
    assert coords.shape == (EPOCHS, N_FIXED + N_MOVING, 2)
    assert np.isfinite(coords).all()


@pytest.mark.parametrize("method", projection.METHODS)
def test_axes_are_stable_points_that_do_not_move_keep_their_coordinates(maps, method):
    coords = maps[method]
    for epoch in range(1, EPOCHS):
        np.testing.assert_allclose(coords[epoch, :N_FIXED], coords[0, :N_FIXED], rtol=0, atol=1e-5)
    # ... while the drifting points do move.
    assert np.abs(coords[-1, N_FIXED:] - coords[0, N_FIXED:]).max() > 1e-3


def test_pca_is_one_fit_on_the_stack_then_a_transform_per_epoch():
    from sklearn.decomposition import PCA

    snaps = _snapshots()
    coords = projection.project_epochs(snaps, "pca")
    pca = PCA(2, svd_solver="full").fit(np.concatenate(snaps))
    for epoch, snap in enumerate(snaps):
        expected = pca.transform(snap)
        # PCA axes are defined up to sign
        signs = np.sign((coords[epoch] * expected).sum(0))
        np.testing.assert_allclose(coords[epoch], expected * signs, atol=1e-3)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown projection"):
        projection.project_epochs(_snapshots(), "mds")
    with pytest.raises(ValueError, match="differ in shape"):
        projection.project_epochs([np.zeros((3, 4)), np.zeros((4, 4))])
    with pytest.raises(ValueError, match="no snapshots"):
        projection.project_epochs([])


# ---- the cache -----------------------------------------------------------------------------------
def _write_snapshot(run, epoch: int, array: np.ndarray) -> None:
    from safetensors.numpy import save_file

    (run / "snapshots").mkdir(parents=True, exist_ok=True)
    save_file({"representations": np.ascontiguousarray(array, dtype=np.float32)},
              str(run / "snapshots" / f"epoch_{epoch:03d}.safetensors"))


def _boom(*_args, **_kwargs):
    raise AssertionError("recomputed although the cache is fresh")


def test_cache_hit_reads_the_file_and_new_snapshots_invalidate_it(tmp_path, monkeypatch):
    run = tmp_path / "run"
    assert projection.cached_projection(run, "pca") is None  # no snapshot yet
    snaps = _snapshots()
    for epoch in range(2):
        _write_snapshot(run, epoch, snaps[epoch])
    first = projection.cached_projection(run, "pca")
    assert first.computed and first.epochs == [0, 1] and first.coords.shape == (2, N_FIXED + N_MOVING, 2)
    assert projection.projection_path(run, "pca").is_file()

    monkeypatch.setattr(projection, "project_epochs", _boom)
    hit = projection.cached_projection(run, "pca")
    assert not hit.computed and hit.epochs == [0, 1]
    np.testing.assert_array_equal(hit.coords, first.coords)
    assert projection.load_projection(run, "pca").fresh

    _write_snapshot(run, 2, snaps[2])  # a new epoch appears
    assert not projection.load_projection(run, "pca").fresh
    with pytest.raises(AssertionError, match="recomputed"):
        projection.cached_projection(run, "pca")
    monkeypatch.undo()
    grown = projection.cached_projection(run, "pca")
    assert grown.computed and grown.epochs == [0, 1, 2]
    assert not projection.cached_projection(run, "pca").computed

    # A rewritten snapshot (same size, new contents) invalidates too.
    _write_snapshot(run, 1, snaps[1] + 1.0)
    path = run / "snapshots" / "epoch_001.safetensors"
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert projection.cached_projection(run, "pca").computed
    # Each method has its own cache file; other methods are not touched.
    assert not projection.projection_path(run, "tsne").exists()


def test_epoch_map_ranges_hold_every_epoch():
    coords = np.array([[[0.0, 0.0], [1.0, 2.0]], [[-1.0, 5.0], [3.0, 1.0]]], dtype=np.float32)
    (x0, x1), (y0, y1) = projection.EpochMap("pca", [0, 1], coords).ranges()
    assert x0 < -1 and x1 > 3 and y0 < 0 and y1 > 5

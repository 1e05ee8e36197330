"""2-D maps of a run's probe representations across epochs, with axes that stay put (the maths and its cache).

``project_epochs`` fits ONE projection on the snapshots of all epochs stacked together, so a point that
moves on the map moved in representation space, and a point that did not move keeps its coordinates:

* ``pca``: PCA fitted on the stack, then each epoch transformed with it;
* ``tsne`` and ``umap``: run once on the stacked points (after a PCA to at most 50 dimensions), seeded,
  t-SNE with PCA initialisation. Identical rows are embedded once and share their coordinates.

``cached_projection`` keeps the result in ``RUN/projections/<method>.npz``, keyed by the snapshot files'
names, sizes and modification times (and the seed): reading a map costs a file read, and it is recomputed
only when a snapshot appears or changes. t-SNE and UMAP on ~15k points take a minute on a small CPU; the
dashboard computes them in the background with :mod:`rrs.runs.maps`.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits

from rrs.store import RunFolder, atomic_write

METHODS = ("pca", "tsne", "umap")
METHOD_LABELS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}
#: Bump when the way maps are computed changes: older cache files are then recomputed.
CACHE_VERSION = 2


# ---- projection ----------------------------------------------------------------------------------
def _pca(x: np.ndarray, k: int, seed: int) -> tuple[Any, np.ndarray]:
    from sklearn.decomposition import PCA

    n, d = x.shape
    k = max(1, min(k, n, d))
    # The covariance route (a d x d eigenproblem) is exact and fast while d is moderate and n >= d.
    solver = "covariance_eigh" if d <= 2048 and n >= d else "randomized" if k < min(n, d) else "full"
    pca = PCA(n_components=k, svd_solver=solver, random_state=seed)
    return pca, pca.fit_transform(x)


def _pad2(coords: np.ndarray) -> np.ndarray:
    if coords.shape[1] >= 2:
        return coords[:, :2]
    return np.hstack([coords, np.zeros((coords.shape[0], 2 - coords.shape[1]), coords.dtype)])


def threads() -> int:
    """Threads for the native fits: leave a core free (OpenMP spin-waits badly on a busy machine)."""
    return max(1, (os.cpu_count() or 2) - 1)


def _embed(x: np.ndarray, method: str, seed: int) -> np.ndarray:
    """t-SNE or UMAP of the (unique) rows of ``x``: (n, 2)."""
    n = x.shape[0]
    _, reduced = _pca(x, 50, seed)
    if n < 6:  # too few points for a neighbourhood embedding: the PCA plane is the honest map
        return _pad2(reduced)
    reduced = np.ascontiguousarray(reduced, dtype=np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
        tsne = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity,
                    learning_rate="auto")
        return tsne.fit_transform(reduced)
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", small-data notices
        reducer = umap.UMAP(n_components=2, n_neighbors=int(min(15, n - 1)), random_state=seed,
                            init="spectral" if n > 50 else "random")
        return reducer.fit_transform(reduced)


def project_epochs(snapshots: Sequence[np.ndarray], method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project the per-epoch probe representations ``(n_points, hidden)`` to ``(n_epochs, n_points, 2)``.

    One projection is fitted on all epochs stacked (see the module docstring), so the axes are the same
    in every epoch.
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    arrays = [np.asarray(s, dtype=np.float32).reshape(len(s), -1) for s in snapshots]
    if not arrays:
        raise ValueError("no snapshots to project")
    if any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"snapshots differ in shape: {sorted({a.shape for a in arrays})}")
    import sklearn.decomposition  # noqa: F401 - load the native libraries first, so the limit reaches them
    if method == "tsne":
        import sklearn.manifold  # noqa: F401
    with threadpool_limits(threads()):
        coords = _project(arrays, method, seed)
    return np.ascontiguousarray(coords, dtype=np.float32)


def _project(arrays: list[np.ndarray], method: str, seed: int) -> np.ndarray:
    n_points = arrays[0].shape[0]
    stacked = np.concatenate(arrays)
    if method == "pca":
        pca, _ = _pca(stacked, 2, seed)
        coords = np.stack([_pad2(pca.transform(a)) for a in arrays])
    else:
        unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
        embedded = _embed(unique, method, seed)
        coords = embedded[inverse.reshape(-1)].reshape(len(arrays), n_points, 2)
    return coords


# ---- snapshots and the disk cache ----------------------------------------------------------------
def snapshot_files(run_dir: str | Path) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of a run's representation snapshots, by epoch."""
    return RunFolder(run_dir).snapshot_files()


def load_snapshot(path: str | Path) -> np.ndarray:
    return load_file(str(path))["representations"]


def _cache_key(files: Sequence[tuple[int, Path]], method: str, seed: int) -> str:
    entries = []  # by content, not time: a copied or freshly cloned run keeps its maps
    for _, path in files:
        entries.append([path.name, path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()])
    return json.dumps({"version": CACHE_VERSION, "method": method, "seed": seed, "files": entries})


def projection_path(run_dir: str | Path, method: str) -> Path:
    return RunFolder(run_dir).projection(method)


@dataclass
class EpochMap:
    """A run's probe points on one 2-D map: ``coords[i]`` are the points at ``epochs[i]``."""

    method: str
    epochs: list[int]
    coords: np.ndarray  # (n_epochs, n_points, 2)
    fresh: bool = True  # False: computed before the latest snapshots appeared
    computed: bool = False  # True: computed by this call (not read from the cache)

    def ranges(self, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
        """Axis ranges that hold every epoch's points (for animations with fixed axes)."""
        lo, hi = self.coords.reshape(-1, 2).min(0), self.coords.reshape(-1, 2).max(0)
        span = np.maximum(hi - lo, 1e-6) * pad
        return (float(lo[0] - span[0]), float(hi[0] + span[0])), (float(lo[1] - span[1]), float(hi[1] + span[1]))


def _read_cache(path: Path) -> tuple[str, list[int], np.ndarray] | None:
    try:
        with np.load(path) as data:
            return str(data["key"]), [int(e) for e in data["epochs"]], np.asarray(data["coords"])
    except (OSError, KeyError, ValueError, EOFError):
        return None


def load_projection(run_dir: str | Path, method: str, seed: int = 0) -> EpochMap | None:
    """The cached map, fresh or not (``None`` if there is none); never computes."""
    cached = _read_cache(projection_path(run_dir, method))
    if cached is None:
        return None
    key, epochs, coords = cached
    files = snapshot_files(run_dir)
    try:
        fresh = bool(files) and key == _cache_key(files, method, seed)
    except OSError:
        fresh = False
    return EpochMap(method, epochs, coords, fresh=fresh)


def cached_projection(run_dir: str | Path, method: str = "pca", seed: int = 0) -> EpochMap | None:
    """The run's map from ``RUN/projections/<method>.npz``, recomputed only when the snapshots changed.

    ``None`` when the run has no snapshot yet.
    """
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose one of {', '.join(METHODS)}")
    files = snapshot_files(run_dir)
    if not files:
        return None
    key = _cache_key(files, method, seed)
    path = projection_path(run_dir, method)
    cached = _read_cache(path)
    if cached is not None and cached[0] == key:
        return EpochMap(method, cached[1], cached[2])
    epochs = [e for e, _ in files]
    coords = project_epochs([load_snapshot(p) for _, p in files], method, seed)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, key=np.array(key), epochs=np.array(epochs, dtype=np.int64), coords=coords)

    atomic_write(path, write)
    return EpochMap(method, epochs, coords, computed=True)

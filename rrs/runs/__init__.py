"""Jobs and run folders: the one owner of how long work is started, watched, stopped and read back.

* :mod:`rrs.runs.job`: :class:`~rrs.runs.job.Job` (start, state, stop, log; a "done" check per kind), where
  each kind's folders live, listing them;
* :mod:`rrs.runs.process`: the one detached-process launcher;
* :mod:`rrs.runs.configs`: the configs of ``features``, ``eval``, ``steer`` and ``project`` (``train`` and ``compare`` use
  ``TuneConfig`` and ``CompareConfig``); :mod:`rrs.runs.flags` turns a config's fields into CLI flags;
* :mod:`rrs.runs.commands`: the bodies of ``features``, ``eval`` and ``steer``;
* :mod:`rrs.runs.results`, :mod:`rrs.runs.summary`, :mod:`rrs.runs.maps`: reading evaluation results and
  training runs back, and a run's maps as ``project`` jobs.

The names of the files in a run folder are :class:`rrs.store.RunFolder`'s.
"""

from rrs.runs.job import (
    ACTIVE_STATES,
    KIND_DIRS,
    RESUMABLE_STATES,
    RUNS_ROOT_ENV,
    Job,
    check_name,
    default_name,
    kind_root,
    list_jobs,
    list_runs,
    new_folder,
    runs_root,
)
from rrs.store import RunFolder

__all__ = ["ACTIVE_STATES", "KIND_DIRS", "RESUMABLE_STATES", "RUNS_ROOT_ENV", "Job", "RunFolder", "check_name",
           "default_name", "kind_root", "list_jobs", "list_runs", "new_folder", "runs_root"]

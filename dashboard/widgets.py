"""Streamlit widgets shared by the pages: the job list with its controls, starting a job, the device picker,
form defaults, the loaded model, a spoken question."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from dashboard.state import current_model
from dashboard.style import LABEL_COLORS
from rrs.data.queries import item_audio
from rrs.models.base import SAMPLE_RATE
from rrs.paths import PROJECT_ROOT
from rrs.runs import ACTIVE_STATES, RESUMABLE_STATES, Job, default_name, new_folder
from rrs.store import FolderBusy

DEVICES = ("auto", "cpu", "cuda")
STATE_ICONS = {"starting": "⏳", "preparing": "⏳", "running": "▶️", "done": "✅", "failed": "❌",
               "stopped": "⏸️", "died": "💀", "unknown": "❔"}


def state_label(name: str, status: Mapping[str, Any]) -> str:
    return f"{STATE_ICONS.get(status['state'], '❔')} {name} · {status['state']}"


def shown_path(path: Path) -> str:
    """A folder as a user would type it: relative to the project when it is inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def recorded_note(path: Path, command: str, what: str = "result") -> None:
    """The banner of a recorded (committed, read-only) result and the command that reproduces it."""
    st.info(f"**Recorded {what}**, committed with the project in `{shown_path(path)}`: nothing runs now. "
            "Reproduce it with", icon=":material/video_library:")
    st.code(command, language="bash")


def device_select(container: Any, key: str) -> None:
    container.selectbox("Device", DEVICES, key=key)


def set_form_defaults(prefix: str, defaults: Mapping[str, Any], name_prefix: str | None = None) -> None:
    """Put the form's defaults in the session (once): ``defaults``, with the model loaded on the Model page
    and, with ``name_prefix``, a fresh job name."""
    values = dict(defaults)
    model_key = st.session_state.get("model_key")
    if model_key:
        values["model"] = model_key[0]
        if "device" in values:
            values["device"] = model_key[1] if model_key[1] in DEVICES else "auto"
    if name_prefix:
        values["name"] = default_name(name_prefix)
    for name, value in values.items():
        st.session_state.setdefault(f"{prefix}_{name}", value)


def name_and_model(columns: Any, prefix: str, where: str) -> None:
    """The job's name (its folder under ``where``) and the model, in the first two of ``columns``."""
    columns[0].text_input("Name", key=f"{prefix}_name", help=f"The folder under {where}.")
    columns[1].text_input("Model", key=f"{prefix}_model", help="Defaults to the model loaded on the Model page.")


def form_values(prefix: str, names: Any) -> dict[str, Any]:
    return {name: st.session_state[f"{prefix}_{name}"] for name in names}


def launch(prefix: str, start: Callable[[], Job], what: str) -> None:
    """A form callback: ``start()`` the job (its config validated on the way), or show why not."""
    try:
        job = start()
    except (ValueError, KeyError, FolderBusy) as err:
        st.session_state[f"{prefix}_flash"] = ("error", f"Not started: {err}")
        return
    st.session_state[f"{prefix}_flash"] = ("success", f"Started {what} **{job.name}**. It runs in the background.")
    st.session_state[f"{prefix}_job"] = job.name


def job_controls(job: Job, status: Mapping[str, Any], key: str, resumable: bool = True) -> None:
    """State line, Stop / Resume, the error of a job that did not finish, and its log."""
    state = status["state"]
    left, right = st.columns([5, 1], vertical_alignment="bottom")
    left.markdown(f"**{state}** · {status.get('message', '')}")
    if state in ACTIVE_STATES and right.button("Stop", key=f"{key}_stop", icon=":material/stop:",
                                               help="SIGINT: the job records 'stopped'; resume later"):
        job.stop()
        st.rerun()
    if resumable and state in RESUMABLE_STATES and right.button(
            "Resume", key=f"{key}_resume", icon=":material/play_arrow:", help="Run it again: finished work is kept"):
        job.restart()
        st.rerun()
    if state in ("failed", "died"):
        st.error(f"The job did not finish: {status.get('message', '')}. See **Show log**.")
    with st.expander("Show log", icon=":material/description:"):
        st.code(job.log() or "(no output yet)", language=None)


def job_list(kind: str, folders: list[Path], key: str, title: str | None = None, resumable: bool = True) -> None:
    """The jobs of one kind: a picker with each job's state, and the chosen job's controls.

    Refreshes itself every few seconds while a job is active, and the whole page when one ends.
    """
    states = {f.name: Job(f, kind).state() for f in folders}
    active = any(s["state"] in ACTIVE_STATES for s in states.values())

    def body() -> None:
        folder_of = {f.name: f for f in folders}
        now = {name: Job(f, kind).state() for name, f in folder_of.items()}
        if active and not any(s["state"] in ACTIVE_STATES for s in now.values()):
            st.rerun()  # a job ended: refresh what the page shows of its results
        if title:
            st.subheader(title)
        if st.session_state.get(f"{key}_job") not in now:
            st.session_state[f"{key}_job"] = next(iter(now))
        name = st.selectbox("Job", list(now), key=f"{key}_job", format_func=lambda n: state_label(n, now[n]))
        job_controls(Job(folder_of[name], kind), now[name], key, resumable)

    if folders:
        st.fragment(body, run_every=3.0 if active else None)()


def start_job(prefix: str, kind: str, config: Any, name_prefix: str) -> Job:
    """Start a ``kind`` job with ``config`` in the folder named by the form's ``<prefix>_name`` (then reset)."""
    job = Job.start(kind, config, new_folder(kind, st.session_state[f"{prefix}_name"]))
    st.session_state[f"{prefix}_name"] = default_name(name_prefix)
    return job


def require_model(why: str) -> Any:
    """The model loaded on the Model page; without one, say so (and ``why`` it is needed) and stop the page."""
    model = current_model()
    if model is None:
        st.info(f"No model is loaded. Load one on the **Model** page first{why}")
        st.stop()
    return model


def clip(item: Any, seed: int, voice: Any = None) -> np.ndarray | None:
    """A question's label, text and spoken clip; ``None`` (the error shown) when no audio can be made."""
    st.markdown(f"<span style='color:{LABEL_COLORS[item.label]};font-weight:600'>{item.label.title()}</span>",
                unsafe_allow_html=True)
    st.write(item.prompt)
    try:
        with st.spinner("Synthesising speech…"):
            wave, how = item_audio(item, seed, voice)
    except Exception as err:  # noqa: BLE001 - a clip that can't be made is shown, the page goes on
        st.error(f"No audio for this question: {err}")
        return None
    st.audio(wave, sample_rate=SAMPLE_RATE)
    st.caption(f"{len(wave) / SAMPLE_RATE:.1f} s · {how}")
    return wave

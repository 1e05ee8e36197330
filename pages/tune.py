"""Tune page: launch RRS tuning runs as background jobs, watch them, and map the probe set across epochs.

A run is a job (``python -m rrs train --config runs/<name>/config.json --out runs/<name>``) that keeps going
when the browser closes; this page only reads run directories (``rrs.runs``, ``rrs.projection``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import tune_view as view
from dashboard import widgets
from dashboard.state import show_flash
from rrs import projection
from rrs.models.base import MODALITIES
from rrs.pair_selection import PAIR_SELECTIONS
from rrs.runs import ACTIVE_STATES, Job, list_runs, runs_root
from rrs.runs import maps as background
from rrs.runs.estimate import describe, estimate_tune
from rrs.runs.recorded import recorded
from rrs.runs.summary import compare_runs, run_summary
from rrs.store import RunFolder
from rrs.tuning import METHODS

ss = st.session_state
MAP_METHODS = projection.METHODS

st.title("Tune")
st.caption("RRS tuning (paper §4.2): LoRA on the LLM moves harmful representations into the refusal zone and "
           "benign ones out of it. Runs are background jobs: closing the browser does not stop them.")


# ---- new run -------------------------------------------------------------------------------------
def _start() -> Job:
    values = {**widgets.form_values("tune", view.FORM_FIELDS), "preset": ss.get("tune_preset", "demo")}
    job = widgets.start_job("tune", "train", view.tune_config(values), "rrs")
    ss["tune_run"] = job.name
    return job


root = runs_root()
runs = list_runs(root)
recorded_runs = recorded("train")
widgets.set_form_defaults("tune", view.form_defaults(), "rrs")
def estimate_tune_safe(values: dict, runs_root: Path):
    """The estimate of the form's current values, or None while they are not a valid config."""
    try:
        return estimate_tune(view.tune_config({**values, "preset": ss.get("tune_preset", "demo")}), runs_root)
    except (ValueError, KeyError):
        return None


def _apply_preset() -> None:
    for key, value in view.preset_values(ss["tune_preset"]).items():
        ss[f"tune_{key}"] = value


with st.expander("New run", expanded=not runs and not recorded_runs, icon=":material/tune:"):
    ss.setdefault("tune_preset", "demo")
    model_now = str(ss.get("tune_model") or "embedded")
    st.radio("Preset", list(view.PRESETS), key="tune_preset", horizontal=True, on_change=_apply_preset,
             format_func=lambda n: view.preset_label(n, model_now, root),
             help="Fills the form. Times are estimates for this machine (rrs.runs.estimate): from reference "
                  "figures of a 2-core CPU, rescaled by your finished runs of the same model.")
    with st.form("tune_form", border=False):
        c = st.columns(4)
        c[0].text_input("Run name", key="tune_name", help="The run's folder under the runs directory.")
        c[1].text_input("Model", key="tune_model",
                        help="embedded, embedded-smol, a checkpoint folder, or a model id in the local HF cache. "
                             "Defaults to the model loaded on the Model page.")
        c[2].selectbox("Method", METHODS, key="tune_method",
                       help="RRS, or one of the paper's SFT baselines (same LoRA, penalty and run directory). "
                            "Top-m% only matters for RRS.")
        widgets.device_select(c[3], "tune_device")
        c = st.columns(6)
        c[0].text_input("Pairs", key="tune_pairs", help="'mirror' or a CSV/JSONL file (harmful, benign, category)")
        c[1].number_input("Pairs per category", min_value=0, max_value=10_000, step=1, key="tune_pairs_per_category",
                          help="Training pairs per category (0 = all).")
        c[2].selectbox("Which pairs", PAIR_SELECTIONS, key="tune_pair_selection",
                       help="'first': each category's first pairs. 'boundary': the pairs whose benign twin the "
                            "model reads as most harmful-like (text-only states), i.e. nearest the refusal "
                            "boundary. Only matters when pairs per category is set.")
        c[3].number_input("Benign anchors", min_value=0, max_value=10_000, step=1, key="tune_benign_anchors",
                          help="RRS only: per category, this many extra benign questions trained without their "
                               "harmful twins, the most harmful-like of the pairs not selected (0 = none).")
        c[4].number_input("Probe items per label", min_value=1, max_value=1000, step=1, key="tune_probe_per_label",
                          help="Held-out items whose representations are mapped and scored every epoch.")
        c[5].selectbox("Modality", MODALITIES, key="tune_modality")
        c = st.columns(4)
        c[0].number_input("Top-m % of features", min_value=0.5, max_value=100.0, step=0.5, key="tune_top_percent")
        c[1].number_input("λ penalty", min_value=0.0, max_value=1e6, step=0.1, format="%.3g", key="tune_penalty",
                          help="Weight of ‖θ − θ₀‖² (0 turns it off).")
        c[2].text_input("LoRA layers", key="tune_layers", help="'all', a range '16-23', or a list '20,21,22,23'")
        c[3].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="tune_seed")
        c = st.columns(4)
        c[0].number_input("LoRA r", min_value=1, max_value=512, step=1, key="tune_lora_r")
        c[1].number_input("LoRA alpha", min_value=1, max_value=4096, step=1, key="tune_lora_alpha")
        c[2].number_input("LoRA dropout", min_value=0.0, max_value=0.9, step=0.05, key="tune_lora_dropout")
        c[3].number_input("Learning rate", min_value=1e-7, max_value=1.0, step=1e-5, format="%.1e", key="tune_lr")
        c = st.columns(4)
        c[0].number_input("Epochs", min_value=1, max_value=1000, step=1, key="tune_epochs")
        c[1].number_input("Batch size", min_value=1, max_value=1024, step=1, key="tune_batch_size")
        c[2].number_input("Grad accumulation", min_value=1, max_value=1024, step=1, key="tune_grad_accum")
        c[3].number_input("Answers probe per label", min_value=0, max_value=500, step=1, key="tune_gen_probe_per_label",
                          help="Harmful probe items (and their benign twins) answered by sampling every epoch, for "
                               "the ASR/ORR curves (0 = off).")
        st.caption("Estimated time with these settings: "
                   + describe(estimate_tune_safe(widgets.form_values("tune", view.FORM_FIELDS), root)))
        st.form_submit_button("Start run", type="primary", on_click=widgets.launch, key="tune_submit",
                              args=("tune", _start, "run"))

show_flash("tune_flash")
runs = list_runs(root)
if not runs and not recorded_runs:
    st.info("No runs yet. Fill in the form above and press **Start run**; the defaults are the CPU demo "
            f"configuration (about 15 minutes on a 2-core CPU). Runs are kept in `{root}`.")
    st.stop()


# ---- the selected run ----------------------------------------------------------------------------
folders = {p.name: p for p in runs} | {r.label(): r.path for r in recorded_runs}
commands = {r.label(): r.command for r in recorded_runs}
states = {name: Job(path).state() for name, path in folders.items()}
names = list(folders)
if ss.get("tune_run") not in names:
    ss["tune_run"] = names[0]
choice = st.selectbox(
    "Run", names, key="tune_run",
    format_func=lambda n: widgets.state_label(n, states[n]) if n not in commands else n,
    help="Your runs, newest first, then the recorded runs that ship with the project (read-only).")
run_dir = folders[choice]
is_recorded = choice in commands
status = states[choice]
n_snapshots = len(projection.snapshot_files(run_dir))
if is_recorded:
    widgets.recorded_note(run_dir, commands[choice], "run")


def _status_and_curves(run_dir: Path, seen_state: str, seen_snapshots: int) -> None:
    """Status, controls and curves; re-run every few seconds while the job is active."""
    job = Job(run_dir)
    status = job.state()
    state = status["state"]
    snapshots = len(projection.snapshot_files(run_dir))
    moved_on = state != seen_state and not (state in ACTIVE_STATES and seen_state in ACTIVE_STATES)
    if moved_on or snapshots != seen_snapshots:
        st.rerun()  # a new epoch or a finished job: refresh the whole page (map, run list, timers)
    fraction, text = view.progress_of(status)
    st.progress(fraction, text=text)
    if state == "stopped":
        st.warning(f"Stopped: {status.get('message', '')}")
    elif state == "done" and not is_recorded:
        st.success("Finished. Evaluate it on the **Evaluate** page (choose this run as the adapter).")
    if not is_recorded:
        widgets.job_controls(job, status, "tune")
    summary = run_summary(run_dir)
    left, right = st.columns(2)
    if len(summary.steps):
        left.plotly_chart(view.loss_figure(summary.steps), key="tune_loss")
    else:
        left.caption("The loss curve appears with the first training step.")
    kept = RunFolder(run_dir).completed_epochs()
    best = view.best_epoch(summary.epochs, kept or None) if len(summary.epochs) else None
    if len(summary.epochs):
        right.plotly_chart(view.refusal_figure(summary.epochs, best=best.epoch if best else None),
                           key="tune_refusal")
    else:
        right.caption("Refusal rates appear once the probe set is scored (epoch 0, before training).")
    notes = right
    if view.has_generation(summary.epochs):
        left, notes = st.columns(2)
        left.plotly_chart(view.generation_figure(summary.epochs), key="tune_generation")
    if best is not None:
        how = (f"`python -m rrs eval --adapter {widgets.shown_path(run_dir)} --epoch best`" if best.epoch in kept
               else "its checkpoint is not kept in this folder")
        notes.caption(f"**Best by the probe** (dashed line): {best.describe()}. The benign side swings between "
                      f"epochs, so the last epoch is not always the one to use; evaluate this one with {how}.")
    if view.has_generation(summary.epochs):
        notes.caption("**ASR / ORR per epoch**: the probe's harmful items and their benign twins, answered by "
                      "sampling and judged by keywords, as `python -m rrs eval` does on a larger set. Every epoch "
                      "samples with the same seed; bars are 95% Wilson intervals, so an overlap is noise. "
                      "The first-token curve beside the loss says how the “I” logit moved; this one says what "
                      "the model answers.")


active = status["state"] in ACTIVE_STATES
st.fragment(_status_and_curves, run_every=2.0 if active else None)(run_dir, status["state"], n_snapshots)

summary = run_summary(run_dir)
with st.expander("Configuration", icon=":material/settings:"):
    st.json(summary.config or {"note": "the job has not written its configuration yet"}, expanded=True)


# ---- the map -------------------------------------------------------------------------------------
def _map(run_dir: Path, probe: list[dict]) -> None:
    st.subheader("Probe representations across epochs")
    c = st.columns([2, 2, 4])
    method = c[0].radio("Projection", MAP_METHODS, format_func=projection.METHOD_LABELS.get, horizontal=True,
                        key="tune_map_method")
    color_by = c[1].radio("Colour by", ["label", "category"], horizontal=True, key="tune_map_color")
    emap = _epoch_map(run_dir, method)
    if emap is None:
        return
    epoch_key, last_key = f"tune_epoch_{run_dir.name}", f"tune_epoch_last_{run_dir.name}"
    if ss.get(epoch_key) not in emap.epochs or ss.get(epoch_key) == ss.get(last_key):
        ss[epoch_key] = emap.epochs[-1]  # follow the newest epoch unless the user went back
    ss[last_key] = emap.epochs[-1]
    epoch = c[2].select_slider("Epoch", options=emap.epochs, key=epoch_key)
    fig = view.map_figure(emap, probe, epoch, color_by)
    epochs = run_summary(run_dir).epochs
    has_separation = "separation" in epochs and epochs["separation"].notna().any()
    map_col, side_col = st.columns([3, 1]) if has_separation else (st.container(), None)
    event = map_col.plotly_chart(fig, key=f"tune_map_{run_dir.name}", on_select="rerun",
                                 selection_mode=("points", "box", "lasso"))
    if side_col is not None:
        side_col.plotly_chart(view.separation_figure(epochs), key=f"tune_sep_{run_dir.name}")
        side_col.caption("Separation score: 5-fold cross-validated accuracy of a linear probe telling harmful "
                         "from benign on the full-width states (50% = no signal). It rises as RRS reshapes "
                         "the space.")
    st.caption("One projection is fitted on all epochs together, so the axes are fixed and motion is real. "
               "▶ play animates the epochs; click a point (or lasso several) to hear it.")
    picked = [i for i in view.selected_points(event) if 0 <= i < len(probe)]
    if picked:
        _selected(run_dir, probe, picked)


def _epoch_map(run_dir: Path, method: str) -> projection.EpochMap | None:
    if is_recorded:  # read-only: its maps are committed with it
        emap = projection.load_projection(run_dir, method)
        if emap is None:
            st.info(f"This recorded run ships without a {projection.METHOD_LABELS[method]} map; choose another.")
        return emap
    if method == "pca":
        with st.spinner("Computing the PCA map (once per new epoch)…"):
            return projection.cached_projection(run_dir, "pca")
    emap = projection.load_projection(run_dir, method)
    if emap is not None and emap.fresh:
        return emap
    label = projection.METHOD_LABELS[method]
    attempt = (run_dir.name, method, n_snapshots)
    tried = ss.setdefault("tune_projection_started", set())
    if background.projection_pending(run_dir, method):
        pass
    elif attempt not in tried:
        background.start_projection(run_dir, method)
        tried.add(attempt)
    else:
        log = background.projection_log(run_dir, method)
        st.error(f"Computing the {label} map failed.")
        st.code(log.read_text(errors="replace")[-3000:] if log.is_file() else "(no log)", language=None)
        return emap

    def wait() -> None:
        if not background.projection_pending(run_dir, method):
            st.rerun()
        st.info(f"Computing the {label} map in the background (a minute or two for a full run)…"
                + (" Showing the previous map meanwhile." if emap is not None else ""))

    st.fragment(wait, run_every=2.0)()
    return emap


def _selected(run_dir: Path, probe: list[dict], picked: list[int]) -> None:
    details = view.selection_details(run_dir, probe, picked)
    st.markdown(details["text"])
    if details["audio"] is not None:
        st.audio(details["audio"], format="audio/wav")
    else:
        st.caption("No audio for this item (a text-only probe, or its file is missing).")
    if len(details["table"]) > 1:
        st.dataframe(details["table"], hide_index=True)


if n_snapshots and summary.probe:
    _map(run_dir, summary.probe)
elif is_recorded:
    st.caption("This recorded run ships its curves and settings only: its representation snapshots stay out "
               "of the repository. The recorded demo run has the map; compare the two below.")
elif status["state"] not in ("failed", "died"):
    st.caption("The representation map appears once the probe set has been scored (epoch 0).")


# ---- compare -------------------------------------------------------------------------------------
others = [n for n in names if n != choice]
st.subheader("Compare runs")
if not others:
    st.caption("Start a second run to compare refusal curves and settings.")
else:
    other = st.selectbox("Compare with", others, index=None, placeholder="Choose a run", key="tune_compare")
    if other:
        cmp = compare_runs(run_dir, folders[other])
        left, right = st.columns(2)
        for col, side in ((left, cmp.a), (right, cmp.b)):
            if len(side.epochs):
                col.plotly_chart(view.refusal_figure(side.epochs, title=f"{side.name}: first-token refusal"),
                                 key=f"tune_compare_{side.name}_{col is left}")
            else:
                col.caption(f"{side.name}: no scored epoch yet.")
        if len(cmp.config_diff):
            st.markdown("**Settings that differ**")
            st.dataframe(cmp.config_diff, hide_index=True)
        else:
            st.caption("Both runs have the same settings.")

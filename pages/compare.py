"""Compare page: every method (vanilla, RRS, SARSteer, SFT baselines) on one model, side by side.

A comparison is a background job (``python -m rrs compare ... --out runs/compare/<name>``) that writes
``compare.json`` and one evaluation result per method and modality; this page only reads those folders.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import compare_view as view
from dashboard.eval_view import MODALITY_ORDER, category_figure, table3_frame
from dashboard.state import show_flash
from dashboard.tune_view import ACTIVE_STATES, STATE_ICONS, stop_run
from rrs import jobs
from rrs.evaluation.report import category_rows, table_rows

ss = st.session_state

st.title("Compare")
st.caption("All methods on one model and the same held-out sets: ASR = harmful queries answered, ORR = benign "
           "queries refused, NSI = ΔASR − ΔORR against vanilla (paper Table 3).")
root = jobs.runs_root()


# ---- new comparison (a job) ----------------------------------------------------------------------
def _defaults() -> None:
    key = ss.get("model_key")
    defaults = {**view.FORM_DEFAULTS, "name": view.default_job_name()}
    if key:
        defaults["model"] = key[0]
    for name, value in defaults.items():
        ss.setdefault(f"compare_{name}", value)


def _launch() -> None:
    try:
        folder = view.job_folder(root, ss["compare_name"])
        args = view.compare_args({k: ss[f"compare_{k}"] for k in view.FORM_DEFAULTS})
    except (ValueError, KeyError) as err:
        ss["compare_flash"] = ("error", f"Not started: {err}")
        return
    jobs.start_job(args, folder)
    ss["compare_flash"] = ("success", f"Started comparison **{folder.name}**. It runs in the background; its "
                                      "cells appear below as they finish.")
    ss["compare_job"] = folder.name
    ss["compare_pick"] = str(folder.relative_to(root))
    ss["compare_name"] = view.default_job_name()


_defaults()
with st.expander("New comparison", expanded=not view.find_comparisons(root), icon="⚖️"):
    with st.form("compare_form", border=False):
        c = st.columns(2)
        c[0].text_input("Name", key="compare_name", help="The folder under runs/compare/.")
        c[1].text_input("Model", key="compare_model", help="Defaults to the model loaded on the Model page.")
        c = st.columns(3)
        c[0].number_input("Items per set", min_value=1, max_value=100_000, step=10, key="compare_limit")
        c[1].number_input("Samples per query", min_value=1, max_value=50, step=1, key="compare_samples")
        c[2].multiselect("Modalities", MODALITY_ORDER, key="compare_modalities")
        st.form_submit_button("Start comparison", type="primary", on_click=_launch, key="compare_submit")

show_flash("compare_flash")


def _jobs() -> None:
    folders = view.compare_jobs(root)
    if not folders:
        return
    states = {f.name: view.job_status(f) for f in folders}
    if ss.get("compare_jobs_active") and not any(s["state"] in ACTIVE_STATES for s in states.values()):
        ss["compare_jobs_active"] = False
        st.rerun()  # a job ended: refresh the results below
    st.subheader("Comparison jobs")
    names = list(states)
    if ss.get("compare_job") not in names:
        ss["compare_job"] = names[0]
    name = st.selectbox("Job", names, key="compare_job",
                        format_func=lambda n: f"{STATE_ICONS.get(states[n]['state'], '❔')} {n} · {states[n]['state']}")
    folder, status = root / view.COMPARE_DIR / name, states[name]
    left, right = st.columns([5, 1], vertical_alignment="bottom")
    left.markdown(f"**{status['state']}** · {status.get('message', '')}")
    if status["state"] in ACTIVE_STATES and right.button("Stop", key="compare_stop", icon="⏹️"):
        stop_run(folder)
        st.rerun()
    if status["state"] in ("failed", "died"):
        st.error(f"The comparison did not finish: {status.get('message', '')}. See **Show log**.")
    with st.expander("Show log", icon="📜"):
        st.code(jobs.read_log(folder) or "(no output yet)", language=None)


any_active = any(view.job_status(f)["state"] in ACTIVE_STATES for f in view.compare_jobs(root))
ss["compare_jobs_active"] = any_active
st.fragment(_jobs, run_every=3.0 if any_active else None)()


# ---- results -------------------------------------------------------------------------------------
st.subheader("Results")
found = {str(p.relative_to(root)): p for p in view.find_comparisons(root)}
if not found:
    st.info("No comparisons yet. Start one above (it evaluates every method in every chosen modality), or put a "
            f"`python -m rrs compare` output folder in `{root}`.")
    st.stop()
if ss.get("compare_pick") not in found:
    ss["compare_pick"] = next(iter(found))
choice = st.selectbox("Comparison", list(found), key="compare_pick")


def _results(folder: Path) -> None:
    try:
        meta, results = view.read_comparison(folder)
    except ValueError as err:
        st.error(str(err))
        return
    st.markdown(view.settings_text(meta))
    states = view.cell_states(folder, meta, results)
    pending = [f"{m} · {mod}" for (m, mod), s in states.items() if s == "pending"]
    unreadable = [f"{m} · {mod}" for (m, mod), s in states.items() if s == "unreadable"]
    if pending:
        st.info(f"Pending: {len(pending)} of {len(states)} cells ({', '.join(pending)}).")
    if unreadable:
        st.warning(f"Unreadable result files: {', '.join(unreadable)}.")
    if not results:
        st.caption("No cell has finished yet.")
        return
    grouped = view.ordered(meta, results)
    baseline = view.baseline_of(list(grouped))
    st.markdown("**Table 3** · ASR and ORR in %, NSI in points (↓ lower is better, ↑ higher is better)")
    st.dataframe(table3_frame(table_rows(grouped, baseline), baseline), hide_index=True, key="compare_table3")
    if baseline != "vanilla":
        st.caption(f"No vanilla result yet: NSI is computed against {baseline}.")
    st.markdown("**Wall time** · seconds per method")
    st.dataframe(view.wall_frame(meta), hide_index=True, key="compare_wall")
    st.plotly_chart(view.scatter_figure(grouped, baseline), key="compare_scatter")
    st.markdown("**Benign over-refusal by category**")
    rows = [r for r in category_rows(grouped) if r.get("orr") is not None]
    modalities = [m for m in MODALITY_ORDER if any(r["modality"] == m for r in rows)]
    if not modalities:
        st.caption("The finished cells have no per-category benign numbers.")
        return
    modality = st.radio("Modality", modalities, horizontal=True, key="compare_cat_modality")
    st.plotly_chart(category_figure(rows, "orr", modality), key="compare_orr_by_category")


folder = found[choice]
running = (folder / "job.json").is_file() and view.job_status(folder)["state"] in ACTIVE_STATES
st.fragment(_results, run_every=5.0 if running else None)(folder)

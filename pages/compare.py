"""Compare page: every method (vanilla, RRS, SARSteer, SFT baselines) on one model, side by side.

A comparison is a background job (``python -m rrs compare --config ... --out runs/compare/<name>``) that writes
``compare.json`` and one evaluation result per method and modality; this page only reads those folders.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import compare_view as view
from dashboard import widgets
from dashboard.eval_view import category_figure, table3_frame
from dashboard.state import show_flash
from rrs.evaluation.report import category_rows, table_rows
from rrs.models.base import MODALITIES
from rrs.runs import ACTIVE_STATES, Job, list_jobs, runs_root
from rrs.runs.recorded import recorded

ss = st.session_state

st.title("Compare")
st.caption("All methods on one model and the same held-out sets: ASR = harmful queries answered, ORR = benign "
           "queries refused, NSI = ΔASR − ΔORR against vanilla (paper Table 3).")
root = runs_root()
shipped = {r.label(): r for r in recorded("compare")}


# ---- new comparison (a job) ----------------------------------------------------------------------
def _start() -> Job:
    cfg = view.compare_config(widgets.form_values("compare", view.FORM_FIELDS))
    job = widgets.start_job("compare", "compare", cfg, "compare")
    ss["compare_pick"] = str(job.path.relative_to(root))
    return job


widgets.set_form_defaults("compare", view.form_defaults(), "compare")
with st.expander("New comparison", expanded=not view.find_comparisons(root) and not shipped,
                 icon=":material/balance:"):
    with st.form("compare_form", border=False):
        c = st.columns(2)
        widgets.name_and_model(c, "compare", "runs/compare/")
        c = st.columns(3)
        c[0].number_input("Items per set", min_value=1, max_value=100_000, step=10, key="compare_limit")
        c[1].number_input("Samples per query", min_value=1, max_value=50, step=1, key="compare_samples")
        c[2].multiselect("Modalities", MODALITIES, key="compare_modalities")
        st.caption("Estimated time: " + view.compare_estimate(widgets.form_values("compare", view.FORM_FIELDS)))
        st.form_submit_button("Start comparison", type="primary", on_click=widgets.launch, key="compare_submit",
                              args=("compare", _start, "comparison"))

show_flash("compare_flash")


widgets.job_list("compare", list_jobs("compare"), "compare", title="Comparison jobs")


# ---- results -------------------------------------------------------------------------------------
st.subheader("Results")
found = {str(p.relative_to(root)): p for p in view.find_comparisons(root)} | {k: r.path for k, r in shipped.items()}
if not found:
    st.info("No comparisons yet. Start one above (it evaluates every method in every chosen modality), or put a "
            f"`python -m rrs compare` output folder in `{root}`.")
    st.stop()
if ss.get("compare_pick") not in found:
    ss["compare_pick"] = next(iter(found))
choice = st.selectbox("Comparison", list(found), key="compare_pick",
                      format_func=lambda k: k,
                      help="Your comparisons, newest first, then the recorded ones that ship with the project.")
if choice in shipped:
    widgets.recorded_note(shipped[choice].path, shipped[choice].command, "comparison")
    if shipped[choice].when:
        st.caption(f"Recorded {shipped[choice].when}.")


def _results(folder: Path) -> None:
    try:
        meta, results = view.read_comparison(folder)
    except ValueError as err:
        st.error(str(err))
        return
    st.markdown(view.settings_text(meta))
    with st.expander("All settings", icon=":material/settings:"):
        st.dataframe(view.settings_table(meta), hide_index=True, key="compare_settings")
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
    note = view.precision_note(folder, meta, states)
    if note:
        st.caption(note)
    st.markdown("**Wall time** · seconds per method")
    st.dataframe(view.wall_frame(meta), hide_index=True, key="compare_wall")
    st.plotly_chart(view.scatter_figure(grouped, baseline), key="compare_scatter")
    st.markdown("**Benign over-refusal by category**")
    rows = [r for r in category_rows(grouped) if r.get("orr") is not None]
    modalities = [m for m in MODALITIES if any(r["modality"] == m for r in rows)]
    if not modalities:
        st.caption("The finished cells have no per-category benign numbers.")
        return
    modality = st.radio("Modality", modalities, horizontal=True, key="compare_cat_modality")
    st.plotly_chart(category_figure(rows, "orr", modality), key="compare_orr_by_category")


folder = found[choice]
running = (folder / "job.json").is_file() and Job(folder, "compare").state()["state"] in ACTIVE_STATES
st.fragment(_results, run_every=5.0 if running else None)(folder)

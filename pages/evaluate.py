"""Evaluate page: ASR / ORR evaluation jobs and the paper's Table 3 (with NSI) from their results.

An evaluation is a background job (``rrs.eval_jobs``) writing ``runs/evals/<name>/results.json``; this page
only reads those folders.
"""

from __future__ import annotations

import streamlit as st

from dashboard import eval_view as view
from dashboard.state import show_flash
from dashboard.tune_view import ACTIVE_STATES, RESUMABLE_STATES, STATE_ICONS, current_status, stop_run
from rrs import eval_jobs, jobs
from rrs.evaluation.report import category_rows, table_rows

ss = st.session_state
NO_ADAPTER, FILE = view.NO_ADAPTER, view.FILE_OPTION

st.title("Evaluate")
st.caption("ASR = harmful queries answered; ORR = benign queries refused (both over n sampled answers per "
           "query, AIAH protocol). NSI = ΔASR − ΔORR against the vanilla row (paper Table 3).")

root = jobs.runs_root()
evals = eval_jobs.evals_root()


# ---- new evaluation ------------------------------------------------------------------------------
def _defaults() -> None:
    model_key = ss.get("model_key")
    defaults = {"model": model_key[0] if model_key else "embedded", "adapter": NO_ADAPTER, "method": "",
                "harmful": view.HARMFUL_SETS[0], "benign": view.BENIGN_SETS[0], "harmful_file": "",
                "benign_file": "", "modality": "audio-text", "samples": 5, "limit": 20, "max_new_tokens": 48,
                "judge": "keyword", "device": "auto", "seed": 0, "name": ""}
    for key, value in defaults.items():
        ss.setdefault(f"eval_{key}", value)


def _launch() -> None:
    """Form callback: validate, start the job."""
    values = {k: ss.get(f"eval_{k}") for k in ("model", "method", "modality", "samples", "limit", "max_new_tokens",
                                               "judge", "device", "seed")}
    adapter = ss.get("eval_adapter")
    values["adapter"] = str(jobs.runs_root() / adapter) if adapter and adapter != NO_ADAPTER else ""
    for label in ("harmful", "benign"):
        chosen = ss.get(f"eval_{label}")
        values[label] = (ss.get(f"eval_{label}_file") or "").strip() if chosen == FILE else chosen
    try:
        args, method = view.eval_args(values)
        name = view.check_job_name(ss.get("eval_name") or view.job_name(method, values["modality"]))
        folder = eval_jobs.evals_root() / name
        if folder.exists() and any(folder.iterdir()):
            raise ValueError(f"an evaluation named {name!r} already exists; choose another name")
    except ValueError as err:
        ss["eval_flash"] = ("error", f"Not started: {err}")
        return
    eval_jobs.start_eval(args, folder)
    ss["eval_flash"] = ("success", f"Started evaluation **{name}** ({method}). It runs in the background.")
    ss["eval_job"] = name
    ss["eval_name"] = ""


_defaults()
runs = [p.name for p in jobs.list_runs(root)]
if ss.get("eval_adapter") not in [NO_ADAPTER, *runs]:
    ss["eval_adapter"] = NO_ADAPTER
results = eval_jobs.list_results(evals)
with st.expander("New evaluation", expanded=not results, icon="🧪"):
    with st.form("eval_form", border=False):
        c = st.columns(3)
        c[0].text_input("Model", key="eval_model", help="The base model (the one the adapter was trained on).")
        c[1].selectbox("Adapter (RRS run)", [NO_ADAPTER, *runs], key="eval_adapter",
                       help="A tuning run: its last complete epoch is merged into the model.")
        c[2].text_input("Method name", key="eval_method", placeholder="vanilla, or the run's name",
                        help="The row name in Table 3; 'vanilla' is the NSI baseline.")
        c = st.columns(4)
        c[0].selectbox("Harmful set", [*view.HARMFUL_SETS, FILE], key="eval_harmful")
        c[1].text_input("Harmful file", key="eval_harmful_file", placeholder="used with 'a CSV/JSONL file…'")
        c[2].selectbox("Benign set", [*view.BENIGN_SETS, FILE], key="eval_benign")
        c[3].text_input("Benign file", key="eval_benign_file", placeholder="used with 'a CSV/JSONL file…'")
        c = st.columns(4)
        c[0].selectbox("Modality", view.MODALITY_ORDER, key="eval_modality")
        c[1].number_input("Samples per query", min_value=1, max_value=50, step=1, key="eval_samples")
        c[2].number_input("Items per set (0 = all)", min_value=0, max_value=100_000, step=10, key="eval_limit")
        c[3].selectbox("Judge", view.JUDGES, key="eval_judge")
        c = st.columns(4)
        c[0].number_input("Max new tokens", min_value=1, max_value=1024, step=8, key="eval_max_new_tokens")
        c[1].selectbox("Device", ["auto", "cpu", "cuda"], key="eval_device")
        c[2].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="eval_seed")
        c[3].text_input("Job name", key="eval_name", placeholder="automatic")
        st.form_submit_button("Start evaluation", type="primary", on_click=_launch, key="eval_submit")

show_flash("eval_flash")


# ---- jobs ----------------------------------------------------------------------------------------
def _jobs() -> None:
    folders = eval_jobs.list_eval_jobs(evals)
    if not folders:
        return
    states = {f.name: current_status(f) for f in folders}
    if ss.get("eval_jobs_active") and not any(s["state"] in ACTIVE_STATES for s in states.values()):
        ss["eval_jobs_active"] = False
        st.rerun()  # a job finished: refresh the results below
    st.subheader("Evaluation jobs")
    names = list(states)
    if ss.get("eval_job") not in names:
        ss["eval_job"] = names[0]
    name = st.selectbox("Job", names, key="eval_job",
                        format_func=lambda n: f"{STATE_ICONS.get(states[n]['state'], '❔')} {n} · {states[n]['state']}")
    folder, status = evals / name, states[name]
    state = status["state"]
    left, right = st.columns([5, 1], vertical_alignment="bottom")
    left.markdown(f"**{state}** · {status.get('message', '')}")
    if state in ACTIVE_STATES and right.button("Stop", key="eval_stop", icon="⏹️"):
        stop_run(folder)
        st.rerun()
    if state in RESUMABLE_STATES and right.button("Resume", key="eval_resume", icon="▶️",
                                                  help="Re-run; items already recorded are not generated again"):
        eval_jobs.start_eval(status.get("args") or [], folder)
        st.rerun()
    if state in ("failed", "died"):
        st.error(f"The evaluation did not finish: {status.get('message', '')}. See **Show log**.")
    with st.expander("Show log", icon="📜"):
        st.code(jobs.read_log(folder) or "(no output yet)", language=None)


any_active = any(current_status(f)["state"] in ACTIVE_STATES for f in eval_jobs.list_eval_jobs(evals))
ss["eval_jobs_active"] = any_active
st.fragment(_jobs, run_every=3.0 if any_active else None)()


# ---- results -------------------------------------------------------------------------------------
st.subheader("Results")
if not results:
    st.info("No finished evaluations yet. Start one above: evaluate the vanilla model first (it is the NSI "
            f"baseline), then each tuned run. Results are kept in `{evals}`.")
    st.stop()

labels = {e.label(): e for e in results}
newest: dict[tuple[str, str], str] = {}
for e in results:  # newest first: the default selection has one result per method and modality
    newest.setdefault((e.method, e.modality), e.label())
picked = st.multiselect("Results in the table", list(labels), default=list(newest.values()), key="eval_picked")
st.dataframe(view.entries_frame([labels[p] for p in picked]), hide_index=True)
if not picked:
    st.caption("Choose at least one result.")
    st.stop()
grouped, skipped = eval_jobs.group_results([labels[p] for p in picked])
if skipped:
    st.warning("Several results share a method and modality; the newest is used for: "
               + ", ".join(e.label() for e in skipped))
methods = list(grouped)
baseline = st.selectbox("Baseline (NSI)", methods, index=methods.index("vanilla") if "vanilla" in methods else 0,
                        key="eval_baseline")
if "vanilla" not in methods:
    st.caption("No 'vanilla' result selected: NSI is computed against the chosen baseline.")

st.markdown("**Table 3** · ASR and ORR in %, NSI in points (↓ lower is better, ↑ higher is better)")
rows = table_rows(grouped, baseline=baseline)
st.dataframe(view.table3_frame(rows, baseline), hide_index=True, key="eval_table3")

files = view.report_files(grouped, baseline)
c = st.columns(4)
c[0].download_button("Table 3 · CSV", files["csv"], file_name="table3.csv", mime="text/csv", key="eval_dl_csv")
c[1].download_button("Table 3 · LaTeX", files["latex"], file_name="table3.tex", mime="text/x-tex",
                     key="eval_dl_tex")
c[2].download_button("Per category · CSV", files["per_category"], file_name="per_category.csv", mime="text/csv",
                     key="eval_dl_cat")
c[3].download_button("Table 3 · Markdown", files["markdown"], file_name="table3.md", mime="text/markdown",
                     key="eval_dl_md")

st.subheader("Per category")
cat_rows = category_rows(grouped)
modalities = [m for m in view.MODALITY_ORDER if any(r["modality"] == m for r in cat_rows)]
if not modalities:
    st.caption("The selected results have no per-category numbers.")
    st.stop()
modality = st.radio("Modality", modalities, horizontal=True, key="eval_cat_modality") if len(modalities) > 1 \
    else modalities[0]
left, right = st.columns(2)
left.plotly_chart(view.category_figure(cat_rows, "asr", modality), key="eval_cat_asr")
right.plotly_chart(view.category_figure(cat_rows, "orr", modality), key="eval_cat_orr")

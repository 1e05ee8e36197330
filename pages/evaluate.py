"""Evaluate page: ASR / ORR evaluation jobs and the paper's Table 3 (with NSI) from their results.

An evaluation is a background job (``python -m rrs eval --config ... --out runs/evals/<name>``) writing
``results.json`` there; this page only reads those folders.
"""

from __future__ import annotations

import streamlit as st

from dashboard import eval_view as view
from dashboard import widgets
from dashboard.state import show_flash
from rrs.evaluation.report import category_rows, table_rows
from rrs.models.base import MODALITIES
from rrs.runs import Job, RunFolder, list_jobs, list_runs, new_folder, runs_root
from rrs.runs.estimate import estimate_eval, format_duration
from rrs.runs.recorded import recorded
from rrs.runs.results import evals_root, group_results, list_results, recorded_results

ss = st.session_state
NO_ADAPTER, FILE = view.NO_ADAPTER, view.FILE_OPTION

st.title("Evaluate")
st.caption("ASR = harmful queries answered; ORR = benign queries refused (both over n sampled answers per "
           "query, AIAH protocol). NSI = ΔASR − ΔORR against the vanilla row (paper Table 3).")

root = runs_root()
evals = evals_root()


# ---- new evaluation ------------------------------------------------------------------------------
def _start() -> Job:
    """Form callback: build (and so validate) the config, start the job."""
    values = widgets.form_values("eval", view.FORM_FIELDS)
    values["adapter"] = str(adapters[values["adapter"]]) if values["adapter"] != NO_ADAPTER else ""
    for label in ("harmful", "benign"):
        if values[label] == FILE:
            values[label] = (ss.get(f"eval_{label}_file") or "").strip()
    cfg = view.eval_config(values)
    folder = new_folder("eval", ss.get("eval_name") or view.job_name(cfg.method_name(), cfg.modality))
    ss["eval_name"] = ""
    return Job.start("eval", cfg, folder)


widgets.set_form_defaults("eval", view.form_defaults())
# Only runs with a complete epoch can be evaluated (a run stopped in its first epoch has no adapter yet).
adapters = {p.name: p for p in [*list_runs(root), *(r.path for r in recorded("train"))]
            if RunFolder(p).completed_epochs()}
runs = list(adapters)
if ss.get("eval_adapter") not in [NO_ADAPTER, *runs]:
    ss["eval_adapter"] = NO_ADAPTER
results = list_results(evals) + recorded_results()
with st.expander("New evaluation", expanded=not results, icon=":material/science:"):
    with st.form("eval_form", border=False):
        c = st.columns([3, 3, 2, 3])
        c[0].text_input("Model", key="eval_model", help="The base model (the one the adapter was trained on).")
        c[1].selectbox("Adapter (RRS run)", [NO_ADAPTER, *runs], key="eval_adapter",
                       help="A tuning run: the checkpoint of the epoch chosen beside is merged into the model.")
        c[2].selectbox("Epoch", view.EPOCH_CHOICES, key="eval_epoch",
                       help="last: the last complete epoch. best: the run's probe picks it: the epochs that halve "
                            "the probe's ASR, then the least benign refusal (the Tune page marks it).")
        c[3].text_input("Method name", key="eval_method", placeholder="vanilla, or the run's name",
                        help="The row name in Table 3; 'vanilla' is the NSI baseline.")
        c = st.columns(4)
        c[0].selectbox("Harmful set", [*view.HARMFUL_SETS, FILE], key="eval_harmful")
        c[1].text_input("Harmful file", key="eval_harmful_file", placeholder="used with 'a CSV/JSONL file…'")
        c[2].selectbox("Benign set", [*view.BENIGN_SETS, FILE], key="eval_benign")
        c[3].text_input("Benign file", key="eval_benign_file", placeholder="used with 'a CSV/JSONL file…'")
        c = st.columns(4)
        c[0].selectbox("Modality", MODALITIES, key="eval_modality")
        c[1].number_input("Samples per query", min_value=1, max_value=50, step=1, key="eval_samples")
        c[2].number_input("Items per set (0 = all)", min_value=0, max_value=100_000, step=10, key="eval_limit")
        c[3].selectbox("Judge", view.JUDGES, key="eval_judge")
        c = st.columns(4)
        c[0].number_input("Max new tokens", min_value=1, max_value=1024, step=8, key="eval_max_new_tokens")
        widgets.device_select(c[1], "eval_device")
        c[2].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="eval_seed")
        c[3].text_input("Job name", key="eval_name", placeholder="automatic")
        limit = int(ss.get("eval_limit") or 0)
        seconds = estimate_eval(str(ss.get("eval_model") or "embedded"), 2 * limit, int(ss.get("eval_samples") or 1),
                                int(ss.get("eval_max_new_tokens") or 1)) if limit else None
        st.caption(f"Estimated time: ≈ {format_duration(seconds)} for {2 * limit} queries on a 2-core CPU, from the "
                   "measured cost of the embedded models (a GPU is much faster)." if seconds else
                   "Estimated time: about 4 s per query with 5 answers of 32 tokens for the 1.5B `embedded` on a "
                   "2-core CPU; set the number of items per set to see the total.")
        st.form_submit_button("Start evaluation", type="primary", on_click=widgets.launch, key="eval_submit",
                              args=("eval", _start, "evaluation"))

show_flash("eval_flash")


# ---- jobs ----------------------------------------------------------------------------------------
widgets.job_list("eval", list_jobs("eval"), "eval", title="Evaluation jobs")


# ---- results -------------------------------------------------------------------------------------
st.subheader("Results")
if not results:
    st.info("No finished evaluations yet. Start one above: evaluate the vanilla model first (it is the NSI "
            f"baseline), then each tuned run. Results are kept in `{evals}`.")
    st.stop()

labels = {e.label(): e for e in results}
shipped = [e for e in results if e.command]
if shipped:
    with st.expander(f"{len(shipped)} recorded results ship with the project: how to reproduce them",
                     icon=":material/video_library:"):
        for e in shipped:
            st.markdown(f"**{e.label()}** · `{widgets.shown_path(e.path.parent)}`")
            st.code(e.command, language="bash")
newest: dict[tuple[str, str], str] = {}
for e in results:  # newest first: the default selection has one result per method and modality
    newest.setdefault((e.method, e.modality), e.label())
picked = st.multiselect("Results in the table", list(labels), default=list(newest.values()), key="eval_picked")
st.dataframe(view.entries_frame([labels[p] for p in picked]), hide_index=True)
if not picked:
    st.caption("Choose at least one result.")
    st.stop()
grouped, skipped = group_results([labels[p] for p in picked])
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

st.subheader("Trade-off")
shown = [m for m in MODALITIES if any(m in per for per in grouped.values())]
picked_modality = st.radio("Modality", shown, horizontal=True, key="eval_tradeoff_modality") if len(shown) > 1 \
    else shown[0]
st.plotly_chart(view.tradeoff_figure(grouped, picked_modality, baseline), key="eval_tradeoff")
winners = view.meeting_targets(grouped, picked_modality, baseline)
st.caption((f"Meeting both targets against {baseline}: {', '.join(winners)}." if winners else
            f"No result meets both targets against {baseline} ({view.TARGET_TEXT}).")
           + " Point estimates; the bars are 95% intervals.")

st.subheader("Per category")
cat_rows = category_rows(grouped)
modalities = [m for m in MODALITIES if any(r["modality"] == m for r in cat_rows)]
if not modalities:
    st.caption("The selected results have no per-category numbers.")
    st.stop()
modality = st.radio("Modality", modalities, horizontal=True, key="eval_cat_modality") if len(modalities) > 1 \
    else modalities[0]
left, right = st.columns(2)
left.plotly_chart(view.category_figure(cat_rows, "asr", modality), key="eval_cat_asr")
right.plotly_chart(view.category_figure(cat_rows, "orr", modality), key="eval_cat_orr")

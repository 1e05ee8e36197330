"""Steer page: SARSteer vectors on the loaded model, their effect on one Mirror validation pair.

Vectors are computed by a background job (``python -m rrs steer --config ... --out runs/steer/<name>``); the page
reads saved vector folders and applies them in-process with ``rrs.steering.steer``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import steer_view as view
from dashboard import widgets
from dashboard.state import show_flash
from dashboard.style import LABEL_COLORS
from rrs.models.base import MODALITIES, Query
from rrs.runs import Job, list_jobs, runs_root
from rrs.runs.recorded import recorded
from rrs.steering import SteeringVectors

ss = st.session_state
SEED = 0  # voice seed of the clips

st.title("Steer")
st.caption("SARSteer (arXiv 2510.17633), no training: while generating, α·v_l is added to decoder layer l's "
           "output at the last position. v_l is the refusal direction d_l with its part in the benign "
           "(safe) subspace removed; plain steering adds d_l itself.")

model = widgets.require_model(": steering vectors are computed from, and added to, its hidden states.")
root = runs_root()


# ---- compute vectors (a job) ---------------------------------------------------------------------
def _start() -> Job:
    cfg = view.steer_config(widgets.form_values("steer", view.FORM_FIELDS))
    return widgets.start_job("steer", "steer", cfg, "sarsteer")


widgets.set_form_defaults("steer", view.form_defaults(), "sarsteer")
with st.expander("Compute SARSteer vectors", expanded=not view.find_vectors(root) and not recorded("steer"),
                 icon=":material/explore:"):
    with st.form("steer_form", border=False):
        c = st.columns(3)
        widgets.name_and_model(c, "steer", "runs/steer/")
        widgets.device_select(c[2], "steer_device")
        c = st.columns(4)
        c[0].text_input("Pairs", key="steer_pairs", help="'mirror' (train split), 'figstep' or a pairs file")
        c[1].number_input("Training pairs", min_value=2, max_value=10_000, step=10, key="steer_n_pairs")
        c[2].number_input("k (benign subspace rank)", min_value=0, max_value=512, step=1, key="steer_k")
        c[3].text_input("Layers", key="steer_layers", help="'all', a range '8-20' or a list '10,12'")
        c = st.columns(5)
        c[0].number_input("λ (ablation strength)", min_value=0.0, max_value=10.0, step=0.1, key="steer_lam")
        c[1].number_input("Default α", min_value=0.0, max_value=100.0, step=0.05, key="steer_alpha")
        c[2].selectbox("Modality", MODALITIES, key="steer_modality")
        c[3].selectbox("Refusal prompt", view.REFUSAL_PROMPTS, key="steer_refusal_prompt",
                       help="Appended to the instruction for the 'refused' activations: 'default' is "
                            "\"I cannot assist with that.\"; the others are the reference's longer variants.")
        c[4].number_input("Seed", min_value=0, max_value=2**31 - 1, step=1, key="steer_seed")
        st.caption(view.steer_estimate(widgets.form_values("steer", view.FORM_FIELDS)))
        st.form_submit_button("Compute vectors", type="primary", on_click=widgets.launch, key="steer_submit",
                              args=("steer", _start, "computing vectors"))

show_flash("steer_flash")


widgets.job_list("steer", list_jobs("steer"), "steer")


# ---- the vectors ---------------------------------------------------------------------------------
@st.cache_resource(max_entries=4, show_spinner=False)
def _load(path: str, mtime: float):
    return SteeringVectors.load(path)


shipped = {r.label(): r for r in recorded("steer") if (r.path / "vectors.safetensors").is_file()}
found = {str(p.relative_to(root)): p for p in view.find_vectors(root)} | {k: r.path for k, r in shipped.items()}
if not found:
    st.info(f"No SARSteer vectors yet. Compute some above, or put a `python -m rrs steer` output folder in `{root}`.")
    st.stop()
choice = st.selectbox("Vectors", list(found), key="steer_vectors",
                      format_func=lambda r: r if r in shipped else view.vector_label(root, found[r]),
                      help="Your vectors, newest first, then the recorded ones that ship with the project.")
folder: Path = found[choice]
if choice in shipped:
    widgets.recorded_note(folder, shipped[choice].command, "vectors and α sweep")
mtime = (folder / "vectors.safetensors").stat().st_mtime
try:
    vectors = _load(str(folder), mtime)
except Exception as err:  # noqa: BLE001 - a broken folder is reported, the page goes on
    st.error(f"Cannot read the vectors in `{folder}`: {err}")
    st.stop()
problem = view.check_fit(vectors, model)
if problem:
    st.error(f"{problem} Choose other vectors, or compute new ones for this model above.")
    st.stop()
if vectors.meta.get("fingerprint") not in (None, model.fingerprint()):
    st.warning(f"These vectors were computed on {vectors.meta.get('model', 'another model')}, not on the loaded "
               "weights (same shape); their effect may not mean much.")


# ---- the clip ------------------------------------------------------------------------------------
st.subheader("Clip")
pairs = view.validation_pairs()
index = st.selectbox("Mirror validation pair", range(len(pairs)), key="steer_pair",
                     format_func=lambda i: view.pair_label(pairs[i]))
pair = pairs[index]
queries = {}
for column, item in zip(st.columns(2), (pair.harmful, pair.benign), strict=True):
    with column:
        wave = widgets.clip(item, SEED)
        if wave is None:
            st.stop()
        queries[item.label] = Query(item.prompt, wave)


# ---- steering ------------------------------------------------------------------------------------
st.subheader("Steering")
top = view.slider_max(vectors.config.alpha)
if not isinstance(ss.get("steer_alpha_now"), float) or not 0 <= ss["steer_alpha_now"] <= top:
    ss["steer_alpha_now"] = min(float(vectors.config.alpha), top)
c = st.columns([3, 3, 2, 2], vertical_alignment="bottom")
alpha = c[0].slider("α (steering strength)", 0.0, top, step=top / 100, key="steer_alpha_now")
layers = c[1].multiselect("Layers", list(vectors.layers), default=list(vectors.layers), key=f"steer_pick_{choice}")
modality = c[2].selectbox("Modality", MODALITIES, index=MODALITIES.index(vectors.config.modality),
                          key=f"steer_mod_{choice}")
ablated = c[3].toggle("Ablated (SARSteer)", value=True, key="steer_ablated",
                      help="On: v_l, the benign-subspace part removed. Off: plain steering with d_l.")
if not layers:
    st.warning("Choose at least one layer to steer.")
    st.stop()

setting = (model.fingerprint(), str(folder), mtime, index, modality, tuple(layers), ablated)
store = ss.setdefault("steer_responses", {})
gen_key = (*setting, round(alpha, 6))
if st.button("Generate responses", type="primary", key="steer_generate", icon=":material/play_arrow:"):
    try:
        with st.spinner(f"Generating 4 answers (greedy, {view.MAX_NEW_TOKENS} new tokens)…"):
            store[gen_key] = view.generate_both(model, vectors, [queries["harmful"], queries["benign"]], modality,
                                                alpha, layers, ablated)
        while len(store) > 12:
            store.pop(next(iter(store)))
    except Exception as err:  # noqa: BLE001 - shown to the user with its message
        st.error(f"Generation failed: {err}")
if gen_key in store:
    how = "SARSteer" if ablated else "plain steering"
    titles = ("Without steering", f"With {how} · α = {alpha:g} · {len(layers)} layers")
    for column, title, answers in zip(st.columns(2), titles, (store[gen_key]["plain"], store[gen_key]["steered"]),
                                      strict=True):
        column.markdown(f"**{title}**")
        for label, text in zip(("harmful", "benign"), answers, strict=True):
            tag = "refuses" if view.is_refusal(text) else "answers"
            column.markdown(f"<span style='color:{LABEL_COLORS[label]}'>{label} clip</span> · {tag}",
                            unsafe_allow_html=True)
            column.code(text or "(empty response)", language=None, wrap_lines=True)
else:
    st.caption(f"Press **Generate responses** to hear from the model with and without steering ({modality}).")

st.subheader("Refusal probability vs α")
grid = view.alpha_grid(top)
curves = ss.setdefault("steer_curves", {})
curve_key = (*setting, tuple(grid))
slot = st.empty()
if curve_key not in curves and slot.button(f"Compute the curve ({len(grid)} α values, both clips)", key="steer_curve"):
    with st.spinner("Scoring the first response token at each α…"):
        curves[curve_key] = view.refusal_curve(model, vectors, queries, modality, grid, layers, ablated)
    slot.empty()
if curve_key in curves:
    st.plotly_chart(view.curve_figure(curves[curve_key], alpha), key="steer_curve_plot")
    st.caption("Probability that the first answer token is the refusal opener (“I”). The curve is kept for these "
               "vectors, layers, mode and clip; moving α only moves the dashed line.")

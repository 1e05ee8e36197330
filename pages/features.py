"""Features page: RRS safety features of the loaded model, and what keeping the top m% of them predicts."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from dashboard import features_view as view
from dashboard import widgets
from dashboard.state import user_pairs
from rrs.data.pairs import mirror_train_pairs, pairs_digest
from rrs.data.splits import pairs_per_category
from rrs.feature_analysis import FeatureAnalysis
from rrs.models.base import MODALITIES
from rrs.paths import safe_name
from rrs.runs import runs_root
from rrs.runs.recorded import recorded

SEED = 0
SOURCES = ("Mirror (train split)", "My pairs (Pairs page)")
CACHE = "feature_analyses"  # session key: {(fingerprint, pairs digest, modality): FeatureAnalysis}
MAX_CACHED = 4  # per model; analyses of other models are dropped (they hold on to that model's lm_head)
ss = st.session_state


def cached(key: tuple) -> FeatureAnalysis | None:
    return ss.get(CACHE, {}).get(key)


def remember(key: tuple, analysis: FeatureAnalysis) -> None:
    store = {k: v for k, v in ss.get(CACHE, {}).items() if k[0] == key[0] and k != key}
    store[key] = analysis
    while len(store) > MAX_CACHED:  # oldest first
        store.pop(next(iter(store)))
    ss[CACHE] = store


def render_metrics(readouts: dict[str, Any]) -> None:
    cols = st.columns(4)
    cols[0].metric("Features kept", f"{readouts['n_selected']} / {readouts['hidden_size']}")
    share = readouts["share_of_predicted_logit_kept"]
    cols[1].metric("Share of the refusal push kept", view.percent(100 * share),
                   help="How much of the shift towards a refusal (the predicted rise of the “I” logit, the "
                        "first word of “I'm sorry…”) the selected features carry: "
                        "Σ c_p over the selected features ÷ Σ c_p over all features with c_p > 0. It is 100% "
                        "when exactly the positive contributions are kept and falls below when negative ones "
                        f"join. Predicted change of the “I” logit: {readouts['predicted_delta_logit']:+.3f}.")
    for col, label, inverse in ((cols[2], "harmful", False), (cols[3], "benign", True)):
        before, after = readouts[f"{label}_refusal_before"], readouts[f"{label}_refusal_after"]
        col.metric(f"{label.title()}: first-token refusal", view.percent(after),
                   delta=f"{after - before:+.1f} pts", delta_color="inverse" if inverse else "normal",
                   help=f"Share of {label} prompts whose most likely first token is a refusal opener "
                        f"(“I”, “As”, “Sorry”), before ({view.percent(before)}) and after "
                        f"{'adding' if label == 'harmful' else 'subtracting'} ΔV̄ˢ.")


st.title("Features")
st.caption("ΔV̄ = mean(f(d_h, t̃) − f(d_b, t)) over harmful/benign pairs; each hidden dimension p "
           "contributes c_p = w_I[p]·ΔV̄[p] to the change of the “I” (refusal) logit. RRS keeps the top m% "
           "(paper Eq. 9-10).")

for rec in recorded("train"):
    saved = rec.path / "features" / "features.safetensors"
    if saved.is_file():
        with st.expander(f"Recorded: the safety features of {rec.title}", icon=":material/video_library:"):
            from safetensors.numpy import load_file

            meta = json.loads((rec.path / "features" / "features.json").read_text())
            st.plotly_chart(view.recorded_contributions_figure(load_file(str(saved))["contrib"], meta["n_selected"]),
                            key=f"features_recorded_{rec.path.name}")
            st.caption(f"Top {meta['top_percent']:g}% = {meta['n_selected']} of {meta['hidden_size']} features, "
                       f"computed by the run from its training pairs. Reproduce it with `{rec.command}`.")

model = widgets.require_model("; the features are computed from its hidden states.")

left, middle, right = st.columns(3)
source = left.selectbox("Pairs", SOURCES, key="features_source")
per_category = middle.number_input(
    "Pairs per category", min_value=1, max_value=50, value=4, step=1, key="features_per_category",
    disabled=source != SOURCES[0],
    help="Mirror pairs used per category (14 categories): 3 forward passes per pair. On a 2-core CPU the 1.5B "
         "`embedded` model takes about 0.4 s per pass once the clips are cached, about 1.5 s the first time "
         "(speech and the audio front end): with 4, 1–4 minutes.")
modality = right.selectbox("Modality", MODALITIES, key="features_modality")

if source == SOURCES[0]:
    pairs = pairs_per_category(mirror_train_pairs(), int(per_category))
else:
    pairs = user_pairs()
if not pairs:
    st.info("You have no pairs of your own yet: add some on the **Pairs** page, or use the Mirror pairs.")
    st.stop()
if modality != "audio-text":
    st.caption(f"In {modality} mode the prompt has no instruction, so t and t̃ coincide and ΔV̄ compares the "
               "harmful and benign questions themselves.")

key = (model.fingerprint(), pairs_digest(pairs, SEED), modality)
if st.button(f"Compute representations ({len(pairs)} pairs)", type="primary", key="features_compute"):
    bar = st.progress(0.0, text="Starting…")
    try:
        result = FeatureAnalysis.from_model(
            model, pairs, modality, seed=SEED,
            progress=lambda fraction, message: bar.progress(min(max(fraction, 0.0), 1.0), text=message))
    except Exception as err:  # noqa: BLE001 - every failure is shown with its message
        bar.empty()
        st.error(f"Could not compute the features: {err}")
        st.stop()
    bar.empty()
    remember(key, result)

current = cached(key)
if current is None:
    st.info("Press **Compute representations**. The first time, speech is synthesised and the model runs "
            "once per question and prompt; the vectors are then kept on disk, so later runs are fast.")
    st.stop()

top = st.slider("Top m% of features", min_value=0.5, max_value=100.0, value=25.0, step=0.5, format="%.1f%%",
                key="features_top", help="The paper uses 12.5%, 25% and 51%.")
readouts = current.readouts(top)
render_metrics(readouts)
k = readouts["n_selected"]
left, right = st.columns([3, 2])
left.plotly_chart(view.contributions_figure(current, k), key="features_contrib")
right.plotly_chart(view.histogram_figure(current, k), key="features_hist")
st.plotly_chart(view.category_figure(current, top), key="features_categories")
st.caption(f"{current.n_pairs} pairs, {modality}, model {current.model_name}. "
           f"{current.n_positive} of {current.hidden_size} features have c_p > 0.")

st.subheader("Save selection")
name = st.text_input("Name", value=f"{current.model_name}-{modality}", key="features_save_name",
                     help="A folder of that name is written under runs/features/.")
if st.button("Save selection", key="features_save"):

    try:
        folder = current.save(runs_root() / "features" / safe_name(name), top)
    except (ValueError, OSError) as err:
        st.error(f"Could not save: {err}")
    else:
        st.success(f"Saved the top {top:g}% selection to `{folder}`")

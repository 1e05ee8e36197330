"""Model page: choose an LALM, load it once, and show its card."""

from __future__ import annotations

import os

import streamlit as st

from dashboard.state import current_model, load_shared_model
from dashboard.widgets import DEVICES
from rrs.models.loader import list_cached_models

st.title("Model")
st.caption("Load an audio language model. It stays loaded for every page until you load another.")

with st.sidebar:
    st.subheader("Choose a model")
    source = st.radio("Source", ["embedded", "embedded-small", "embedded-smol", "local folder", "local HF cache"],
                      key="model_source",
                      help="embedded: Whisper tiny.en + Qwen2.5-Coder-1.5B-Instruct (the default subject). "
                      "embedded-small: the same front end with the 0.5B LLM (faster, weakly aligned). "
                      "embedded-smol: SmolLM2-135M (fastest, not safety-aligned).")
    spec = source
    if source == "local folder":
        spec = st.text_input("Checkpoint folder", placeholder="/models/Qwen2-Audio-7B-Instruct")
    elif source == "local HF cache":
        cached = list_cached_models()
        spec = st.selectbox("Cached model", cached) if cached else ""
        if not cached:
            st.info("No supported audio LLM found in the local Hugging Face cache.")
    device = st.selectbox("Device", DEVICES, key="model_device")
    dtype = st.selectbox("Dtype", ["auto", "float32", "bfloat16", "float16"], key="model_dtype")
    load = st.button("Load model", type="primary", disabled=not spec, key="load_model")

# `make run` sets RRS_AUTOLOAD=embedded so the dashboard opens on the embedded model.
autoload = os.environ.get("RRS_AUTOLOAD")
if autoload and not st.session_state.get("autoload_done") and st.session_state.get("model_key") is None:
    st.session_state["autoload_done"] = True
    spec, device, dtype, load = autoload, "auto", "auto", True

def view_load_note(spec: str) -> str:
    """What loading will do, with a time measured on a 2-core CPU (docs/EMBEDDED.md)."""
    from rrs.models.embedded.assemble import is_prepared

    if spec in ("embedded", "embedded-small", "embedded-smol"):
        if is_prepared(spec):
            return "Loading the assembled model from the cache (about 15–35 s on a 2-core CPU)."
        return ("First use: assembling the model from its weight packages, then loading it "
                "(about 2–3 minutes for the 1.5B `embedded` on a 2-core CPU; once).")
    return "Loading the checkpoint (a 7B model takes minutes on CPU and needs about 30 GB of memory in fp32)."


if load and spec:
    with st.status(f"Loading {spec} …", expanded=True) as status:
        st.write(view_load_note(spec))
        try:
            load_shared_model(spec, device, dtype)
        except Exception as err:  # noqa: BLE001 - every load failure is shown with its fix
            status.update(label="Loading failed", state="error")
            st.error(f"Could not load {spec!r}: {err}")
            st.stop()
        st.session_state["model_key"] = (spec, device, dtype)
        status.update(label=f"Loaded {spec}", state="complete", expanded=False)

model = current_model()
if model is None:
    st.info("No model loaded yet. Pick one in the sidebar and press **Load model**. "
            "`embedded` is a small real speech LLM (1.5B) that runs on this CPU; `embedded-small` (0.5B) is "
            "three times faster.")
    st.stop()

card = model.card()
cols = st.columns(4)
cols[0].metric("Family", card.family)
cols[1].metric("Parameters", f"{card.n_params / 1e6:,.0f} M")
cols[2].metric("Layers", card.n_layers)
cols[3].metric("Hidden size", card.hidden_size)
cols = st.columns(4)
cols[0].metric("Refusal token", f"“{card.refusal_token}” (id {card.refusal_token_id})")
cols[1].metric("Device", card.device)
cols[2].metric("Dtype", card.dtype)
cols[3].metric("Memory", f"{card.memory_bytes / 2**30:.2f} GiB")
st.subheader("Model card")
st.json(card.as_dict(), expanded=True)

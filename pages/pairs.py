"""Pairs page: browse harmful/benign question pairs, hear them, and see how the loaded model answers."""

from __future__ import annotations

import streamlit as st

from dashboard import pairs_view as view

st.title("Pairs")
st.caption("Harmful questions and their benign twins, as the model hears them. Mirror pairs come from the "
           "RRS paper's training split; add your own by typing them or uploading a file.")
view.show_flash()

with st.sidebar:
    seed = int(st.number_input("Voice seed", min_value=0, max_value=10_000, value=0, step=1, key="pairs_seed",
                               help="Each question is spoken in a voice drawn from (seed, question)."))

browse, add = st.tabs(["Browse", "Add pairs"])
with add:
    view.render_upload()
    st.divider()
    view.render_add_form()
with browse:
    pair = view.render_browser()
    if pair is not None:
        view.render_pair(pair, seed)

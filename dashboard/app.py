"""Streamlit entry point: `streamlit run dashboard/app.py` (or `make run`)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="RRS · audio LLM safety", page_icon=":material/shield:", layout="wide")

PAGES = [
    st.Page(str(ROOT / "pages" / "model.py"), title="Model", icon=":material/memory:", default=True),
    st.Page(str(ROOT / "pages" / "pairs.py"), title="Pairs", icon=":material/headphones:"),
    st.Page(str(ROOT / "pages" / "features.py"), title="Features", icon=":material/bar_chart:"),
    st.Page(str(ROOT / "pages" / "tune.py"), title="Tune", icon=":material/tune:"),
    st.Page(str(ROOT / "pages" / "evaluate.py"), title="Evaluate", icon=":material/fact_check:"),
    st.Page(str(ROOT / "pages" / "steer.py"), title="Steer", icon=":material/explore:"),
    st.Page(str(ROOT / "pages" / "compare.py"), title="Compare", icon=":material/balance:"),
]
st.navigation(PAGES).run()

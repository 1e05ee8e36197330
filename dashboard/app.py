"""Streamlit entry point: `streamlit run dashboard/app.py` (or `make run`)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="RRS · audio LLM safety", page_icon="🛡️", layout="wide")

PAGES = [
    st.Page(str(ROOT / "pages" / "model.py"), title="Model", icon="🧠", default=True),
    st.Page(str(ROOT / "pages" / "pairs.py"), title="Pairs", icon="🎧"),
    st.Page(str(ROOT / "pages" / "features.py"), title="Features", icon="📊"),
    st.Page(str(ROOT / "pages" / "tune.py"), title="Tune", icon="🛠️"),
    st.Page(str(ROOT / "pages" / "evaluate.py"), title="Evaluate", icon="✅"),
    st.Page(str(ROOT / "pages" / "steer.py"), title="Steer", icon="🧭"),
    st.Page(str(ROOT / "pages" / "compare.py"), title="Compare", icon="⚖️"),
]
st.navigation(PAGES).run()

"""Session-wide state of the dashboard: the one loaded model shared by every page."""

from __future__ import annotations

from typing import Any

import streamlit as st


@st.cache_resource(show_spinner=False, max_entries=1)
def load_shared_model(spec: str, device: str, dtype: str) -> Any:
    """Load once per (spec, device, dtype); every page and rerun reuses the same object."""
    from rrs.models.loader import load_model

    return load_model(spec, device=device, dtype=dtype, progress=False)


def current_model() -> Any | None:
    """The model the user loaded on the Model page, or ``None``."""
    key = st.session_state.get("model_key")
    if key is None:
        return None
    return load_shared_model(*key)


def show_flash(key: str) -> None:
    """Show, once, the ``(kind, text)`` message a form callback left in ``st.session_state[key]``."""
    flash = st.session_state.pop(key, None)
    if flash:
        (st.error if flash[0] == "error" else st.success)(flash[1])

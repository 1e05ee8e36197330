"""Session-wide state of the dashboard: the one loaded model shared by every page, the pairs the user added,
and one-shot messages."""

from __future__ import annotations

from typing import Any

import streamlit as st

from rrs.data.pairs import merge_pairs
from rrs.models.loader import load_model


@st.cache_resource(show_spinner=False, max_entries=1)
def load_shared_model(spec: str, device: str, dtype: str) -> Any:
    """Load once per (spec, device, dtype); every page and rerun reuses the same object."""
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


USER_PAIRS = "user_pairs"  # session key: list[Pair] the user added (typed or from a file)


def user_pairs() -> list[Any]:
    """The pairs the user added on the Pairs page (used by the Features page too)."""
    return list(st.session_state.get(USER_PAIRS, []))


def add_user_pairs(pairs: list[Any]) -> int:
    """Add ``pairs`` to the user's, skipping those already there; how many were new."""
    merged, added = merge_pairs(user_pairs(), pairs)
    st.session_state[USER_PAIRS] = merged
    return added

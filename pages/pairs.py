"""Pairs page: browse harmful/benign question pairs, hear them, and see how the loaded model answers."""

from __future__ import annotations

import streamlit as st

from dashboard import pairs_view as view
from dashboard import widgets
from dashboard.state import add_user_pairs, current_model, show_flash, user_pairs
from dashboard.style import LABEL_COLORS
from rrs.data import DataError, Pair
from rrs.data.pairs import filter_pairs, make_pair, mirror_train_pairs, pair_table, pair_uid
from rrs.data.queries import responses_for_pair, responses_table
from rrs.data.user_files import load_pairs_upload
from rrs.evaluation.judges import KeywordJudge
from rrs.runs.estimate import format_duration
from rrs.speech import VOICES, voice_for

ss = st.session_state
FLASH = "pairs_flash"
FORM_VERSION = "pairs_form_version"
FILE_DONE = "pairs_file_done"
RESPONSES = "pair_responses"


def flash(message: str) -> None:
    """Show ``message`` as a success box on the next run (survives ``st.rerun``)."""
    ss[FLASH] = ("success", message)


# ---- adding pairs ---------------------------------------------------------------------------------
def render_upload() -> None:
    """Upload a CSV/JSONL pairs file; a DataError is shown with its message."""
    st.markdown("**Upload a pairs file**")
    st.caption("CSV or JSONL with columns `harmful`, `benign` and optionally `category`, `harmful_audio`, "
               "`benign_audio` (absolute paths).")
    uploaded = st.file_uploader("Pairs file", type=["csv", "jsonl", "ndjson"], key="pairs_file")
    if uploaded is None:
        return
    signature = (uploaded.file_id, uploaded.name, uploaded.size)
    if ss.get(FILE_DONE) == signature:
        return
    try:
        pairs = load_pairs_upload(uploaded.name, uploaded.getvalue())
    except DataError as err:
        st.error(f"Could not read {uploaded.name}: {err}")
        return
    ss[FILE_DONE] = signature
    added = add_user_pairs(pairs)
    flash(f"Loaded {len(pairs)} pair(s) from {uploaded.name}; {added} new. They are listed under “My pairs”.")
    st.rerun()


def render_add_form() -> None:
    """Type a pair, optionally with recordings; AudioError is shown and the typed text is kept."""
    st.markdown("**Type a pair**")
    v = ss.get(FORM_VERSION, 0)
    with st.form(f"pairs_add_form_{v}", clear_on_submit=False):
        category = st.text_input("Category", placeholder="uncategorised", key=f"pairs_add_category_{v}")
        left, right = st.columns(2)
        with left:
            harmful = st.text_area("Harmful question", key=f"pairs_add_harmful_{v}", height=90)
            harmful_audio = st.file_uploader("Harmful recording (optional)", type=view.AUDIO_TYPES,
                                             key=f"pairs_add_harmful_audio_{v}")
        with right:
            benign = st.text_area("Benign question", key=f"pairs_add_benign_{v}", height=90)
            benign_audio = st.file_uploader("Benign recording (optional)", type=view.AUDIO_TYPES,
                                            key=f"pairs_add_benign_audio_{v}")
        submitted = st.form_submit_button("Add pair", type="primary", key=f"pairs_add_submit_{v}")
    if not submitted:
        return
    problems = view.typed_pair_problems(harmful, benign)
    waves = {}
    for what, upload in (("Harmful", harmful_audio), ("Benign", benign_audio)):
        waves[what], problem = view.read_upload(upload, what)
        if problem:
            problems.append(problem)
    if problems:
        for problem in problems:
            st.error(problem)
        return
    pair = make_pair(harmful, benign, category, waves["Harmful"], waves["Benign"])
    added = add_user_pairs([pair])
    ss[FORM_VERSION] = v + 1  # a fresh, empty form
    flash("Pair added; it is listed under “My pairs”." if added else "That pair is already in “My pairs”.")
    st.rerun()


# ---- browsing -------------------------------------------------------------------------------------
def render_browser() -> Pair | None:
    """Source, category and search filters, the table, and a picker; returns the chosen pair."""
    n_user = len(user_pairs())
    counts = {"All pairs": len(mirror_train_pairs()) + n_user,
              "Mirror (train split)": len(mirror_train_pairs()), "My pairs": n_user}
    source = st.radio("Pairs", view.SOURCES, horizontal=True, key="pairs_source",
                      format_func=lambda s: f"{s} ({counts[s]})")
    pairs = view.source_pairs(source, user_pairs())
    if not pairs:
        st.info("You have not added any pairs yet. Use the **Add pairs** tab to type one or upload a file.")
        return None
    table = pair_table(pairs)
    left, right = st.columns([2, 3])
    categories = left.multiselect("Categories", sorted(table["category"].unique()), key="pairs_categories",
                                  placeholder="All categories")
    search = right.text_input("Search", key="pairs_search", placeholder="words in either question")
    shown = filter_pairs(table, categories, search)
    st.caption(f"Showing {len(shown)} of {len(table)} pairs.")
    if shown.empty:
        st.info("No pair matches these filters. Clear the search box or pick other categories.")
        return None
    st.dataframe(shown[["category", "harmful", "benign", "source"]], hide_index=True, height=280,
                 key="pairs_table")
    by_uid = {pair_uid(p): p for p in pairs}
    names = shown["category"] + " · " + shown["harmful"].str.slice(0, 90)
    labels = dict(zip(shown["uid"], names, strict=True))
    uid = st.selectbox("Pair", list(labels), format_func=labels.__getitem__, key="pairs_pick")
    return by_uid.get(uid) if uid is not None else None


PAIR_VOICE = "one voice for the pair"
SAMPLE_VOICES = "a voice per question (as in training)"


def render_pair(pair: Pair, seed: int) -> None:
    """Both clips side by side with a waveform or spectrogram, then the model's responses."""
    left, right = st.columns(2)
    kind = left.radio("Plot", ["Waveform", "Spectrogram"], horizontal=True, key="pairs_plot_kind")
    options = [PAIR_VOICE, SAMPLE_VOICES, *[v.label for v in VOICES]]
    choice = right.selectbox("Voice", options, key="pairs_voice",
                             help="By default both questions are spoken in one voice (the harmful question's "
                                  "draw), so the two clips differ in content only. Training and evaluation draw "
                                  "a voice per question, as the paper does: choose that to hear what the model "
                                  "hears.")
    if choice == PAIR_VOICE:
        voice = voice_for(pair.harmful.uid, seed)
    else:
        voice = next((v for v in VOICES if v.label == choice), None)
    columns = st.columns(2)
    for column, item in zip(columns, (pair.harmful, pair.benign), strict=True):
        color = LABEL_COLORS[item.label]
        with column:
            wave = widgets.clip(item, seed, voice)
            if wave is None:
                continue
            make = view.waveform_figure if kind == "Waveform" else view.spectrogram_figure
            figure = make(wave, color, f"{item.label} · {kind.lower()}")
            st.plotly_chart(figure, key=f"pairs_plot_{item.label}")
    render_responses(pair, seed)


def render_responses(pair: Pair, seed: int) -> None:
    st.subheader("Model responses")
    model = current_model()
    if model is None:
        st.info("No model is loaded. Load one on the **Model** page to see how it answers both questions "
                "in each modality.")
        return
    st.caption(f"Greedy, first 48 tokens, from {model.name} in audio-text, text-only and audio-only mode.")
    store = ss.setdefault(RESPONSES, {})
    key = (model.fingerprint(), pair_uid(pair), seed)
    per_answer = 48 * model.card().n_params / 1.5e9 * (0.12 if model.device.type == "cpu" else 0.01)
    if st.button(f"Show model responses (≈ {format_duration(6 * per_answer + 5)})", key="pairs_show_responses",
                 help="Six greedy answers of 48 tokens; the time is measured for the 1.5B embedded model on a "
                      "2-core CPU and scaled by the loaded model's size."):
        try:
            with st.spinner("Generating six short answers…"):
                store[key] = responses_for_pair(model, pair, seed=seed)
        except Exception as err:  # noqa: BLE001 - shown to the user with its message
            st.error(f"Generation failed: {err}")
    if key in store:
        wide = st.column_config.TextColumn(width="large")
        st.dataframe(responses_table(store[key], KeywordJudge().is_refusal), hide_index=True,
                     key="pairs_responses_table", row_height=110,
                     column_config={"answer to the harmful question": wide, "answer to the benign question": wide})
        st.caption("“refuses” marks an answer the keyword judge of `python -m rrs eval` counts as a refusal.")


st.title("Pairs")
st.caption("Harmful questions and their benign twins, as the model hears them. Mirror pairs come from the "
           "RRS paper's training split; add your own by typing them or uploading a file.")
show_flash(FLASH)

with st.sidebar:
    seed = int(st.number_input("Voice seed", min_value=0, max_value=10_000, value=0, step=1, key="pairs_seed",
                               help="Each question is spoken in a voice drawn from (seed, question)."))

browse, add = st.tabs(["Browse", "Add pairs"])
with add:
    render_upload()
    st.divider()
    render_add_form()
with browse:
    pair = render_browser()
    if pair is not None:
        render_pair(pair, seed)

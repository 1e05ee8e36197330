"""The computations behind the dashboard's Pairs and Features pages (no Streamlit in here).

Pairs
    :func:`mirror_train_pairs`, :func:`pair_table` / :func:`filter_pairs` (a browsable table),
    :func:`load_pairs_upload` (an uploaded CSV/JSONL file), :func:`make_pair` / :func:`save_user_audio`
    (a typed pair with optional recordings), :func:`item_audio` (the clip a model hears for an item) and
    :func:`responses_for_pair` (short greedy answers to both questions in each modality).

Audio plots
    :func:`waveform_envelope` and :func:`spectrogram` (numpy only).

Features
    :class:`FeatureAnalysis`: representations (from the disk cache of :mod:`rrs.representations`),
    :class:`~rrs.features.SafetyFeatures`, a :class:`~rrs.features.FirstTokenPreview` and per-category
    ΔV̄, built once; :meth:`FeatureAnalysis.readouts` then answers "what if I keep the top m%" in one
    matrix-vector product, so a slider never recomputes representations.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rrs.data import DEFAULT_CATEGORY, Item, Pair, pairs_per_category
from rrs.models.base import MODALITIES, SAMPLE_RATE, check_modality

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

    from rrs.features import FirstTokenPreview, SafetyFeatures
    from rrs.models.base import LALM

__all__ = [
    "PAIR_COLUMNS",
    "FeatureAnalysis",
    "filter_pairs",
    "item_audio",
    "load_pairs_upload",
    "make_pair",
    "merge_pairs",
    "mirror_train_pairs",
    "pair_table",
    "pair_uid",
    "pairs_digest",
    "pairs_per_category",
    "responses_for_pair",
    "responses_table",
    "safe_name",
    "save_user_audio",
    "share_kept",
    "spectrogram",
    "waveform_envelope",
]

#: ``progress(fraction in [0, 1], message)``
ProgressFn = Callable[[float, str], None]

PAIR_COLUMNS = ("category", "harmful", "benign", "source", "uid")


# --------------------------------------------------------------------------------------------------
# Pairs
# --------------------------------------------------------------------------------------------------


def pair_uid(pair: Pair) -> str:
    """A stable 12-hex-digit id of a pair, from its two items' uids."""
    return hashlib.sha1(f"{pair.harmful.uid}\x00{pair.benign.uid}".encode()).hexdigest()[:12]


def pairs_digest(pairs: Iterable[Pair], seed: int = 0) -> str:
    """A short hash of a list of pairs (order matters) and the voice seed: a cache key."""
    digest = hashlib.sha256(f"seed={int(seed)}".encode())
    for pair in pairs:
        digest.update(pair_uid(pair).encode())
        for item in (pair.harmful, pair.benign):
            digest.update((item.audio_path or "-").encode())
    return digest.hexdigest()[:16]


@cache
def _mirror_train(val_fraction: float, seed: int) -> tuple[Pair, ...]:
    from rrs.data import mirror_pairs, split_pairs

    return tuple(split_pairs(mirror_pairs(), val_fraction, seed)[0])


def mirror_train_pairs(val_fraction: float = 0.2, seed: int = 0) -> list[Pair]:
    """The train part of ``split_pairs(mirror_pairs())`` (479 of 598 pairs by default), computed once."""
    return list(_mirror_train(float(val_fraction), int(seed)))


def merge_pairs(existing: Sequence[Pair], new: Iterable[Pair]) -> tuple[list[Pair], int]:
    """``existing`` plus the pairs of ``new`` not in it yet (by :func:`pair_uid`); returns (pairs, added)."""
    out = list(existing)
    seen = {pair_uid(p) for p in out}
    added = 0
    for pair in new:
        uid = pair_uid(pair)
        if uid not in seen:
            seen.add(uid)
            out.append(pair)
            added += 1
    return out, added


def pair_table(pairs: Sequence[Pair]) -> pd.DataFrame:
    """One row per pair: ``category``, ``harmful``, ``benign`` (the prompts), ``source``, ``uid``."""
    import pandas as pd

    rows = [
        (p.category, p.harmful.prompt, p.benign.prompt, p.harmful.source, pair_uid(p)) for p in pairs
    ]
    return pd.DataFrame(rows, columns=list(PAIR_COLUMNS))


def filter_pairs(
    table: pd.DataFrame, categories: Sequence[str] | None = None, search: str = ""
) -> pd.DataFrame:
    """Rows of ``table`` in ``categories`` (``None`` or empty: every category) whose category, harmful or
    benign text contains every whitespace-separated word of ``search`` (case-insensitive)."""
    keep = np.ones(len(table), dtype=bool)
    if categories:
        keep &= table["category"].isin(list(categories)).to_numpy()
    words = search.lower().split()
    if words:
        text = (table["category"] + " " + table["harmful"] + " " + table["benign"]).str.lower()
        for word in words:
            keep &= text.str.contains(word, regex=False).to_numpy()
    return table[keep].reset_index(drop=True)


def load_pairs_upload(name: str, content: bytes) -> list[Pair]:
    """Pairs from an uploaded CSV/JSONL file: written to a temporary copy, read by
    :func:`rrs.data.load_pairs_file` (which raises :class:`~rrs.data.DataError` naming row and column).

    Relative audio paths in the file can't be resolved (the upload has no folder), so they are reported
    as missing; absolute paths to existing files work.
    """
    from rrs.data import DataError, load_pairs_file

    filename = Path(str(name)).name or "upload"
    if not re.fullmatch(r"[\w .()+-]{1,200}", filename):
        suffix = Path(filename).suffix.lower()
        filename = "upload" + (suffix if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix) else "")
    if not content:
        raise DataError(f"{filename}: the file is empty")
    with tempfile.TemporaryDirectory(prefix="rrs-pairs-") as folder:
        path = Path(folder) / filename
        path.write_bytes(bytes(content))
        return load_pairs_file(path)


def save_user_audio(wave: np.ndarray, root: str | Path | None = None) -> Path:
    """Keep a user's recording as a 16 kHz 16-bit WAV named by its content hash; returns the path.

    Default folder: ``rrs.paths.cache_dir() / "user_audio"``.
    """
    from rrs.paths import cache_dir
    from rrs.speech import save_wav

    wave = np.ascontiguousarray(wave, dtype=np.float32)
    folder = Path(root) if root is not None else cache_dir() / "user_audio"
    path = folder / f"{hashlib.sha1(wave.tobytes()).hexdigest()[:20]}.wav"
    if not path.is_file():
        save_wav(path, wave)
    return path


def make_pair(
    harmful_text: str,
    benign_text: str,
    category: str = "",
    harmful_wave: np.ndarray | None = None,
    benign_wave: np.ndarray | None = None,
    *,
    source: str = "user:typed",
    audio_root: str | Path | None = None,
) -> Pair:
    """A user's pair. Recordings (16 kHz waveforms, e.g. from :func:`rrs.speech.load_audio`) are saved with
    :func:`save_user_audio` and become the items' ``audio_path``; without one the text is synthesised.
    Raises ``ValueError`` for an empty text."""
    if not harmful_text.strip():
        raise ValueError("the harmful question is empty")
    if not benign_text.strip():
        raise ValueError("the benign question is empty")
    category = category.strip() or DEFAULT_CATEGORY

    def audio(wave: np.ndarray | None) -> str | None:
        return None if wave is None else str(save_user_audio(wave, audio_root))

    return Pair(
        Item(harmful_text.strip(), "harmful", category, audio(harmful_wave), source),
        Item(benign_text.strip(), "benign", category, audio(benign_wave), source),
        category,
    )


def item_audio(item: Item, seed: int = 0) -> tuple[np.ndarray, str]:
    """The 16 kHz clip the model hears for ``item`` (as :func:`rrs.data.to_queries` makes it) and where it
    comes from: ``"recording <file>"`` or the synthetic voice's label."""
    from rrs.data import to_queries
    from rrs.speech import voice_for

    wave = to_queries([item], seed, progress=False)[0].audio
    assert wave is not None
    how = f"recording {Path(item.audio_path).name}" if item.audio_path else voice_for(item.uid, seed).label
    return wave, how


def responses_for_pair(
    model: LALM,
    pair: Pair,
    modalities: Sequence[str] = MODALITIES,
    seed: int = 0,
    max_new_tokens: int = 48,
) -> dict[str, tuple[str, str]]:
    """Greedy answers to the pair's two questions: ``{modality: (harmful answer, benign answer)}``.

    Audio-text uses the model's default instruction (the paper's extraction prompt t).
    """
    from rrs.data import to_queries
    from rrs.models.base import GenerationSettings

    modalities = [check_modality(m) for m in modalities]
    with_audio = any(m != "text-only" for m in modalities)
    queries = to_queries([pair.harmful, pair.benign], seed, with_audio=with_audio, progress=False)
    settings = GenerationSettings(max_new_tokens=max_new_tokens, do_sample=False, seed=seed)
    out = {}
    for modality in modalities:
        answers = model.generate(queries, modality, settings=settings)
        out[modality] = (answers[0][0], answers[1][0])
    return out


def responses_table(responses: dict[str, tuple[str, str]]) -> pd.DataFrame:
    import pandas as pd

    rows = [(m, h, b) for m, (h, b) in responses.items()]
    columns = ["modality", "answer to the harmful question", "answer to the benign question"]
    return pd.DataFrame(rows, columns=columns)


def safe_name(name: str) -> str:
    """A folder name from user text (letters, digits, ``.``, ``_``, ``-``); ``ValueError`` if none is left."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip(".-")
    if not cleaned:
        raise ValueError("give a name with at least one letter or digit")
    return cleaned[:100]


# --------------------------------------------------------------------------------------------------
# Audio plots
# --------------------------------------------------------------------------------------------------


def waveform_envelope(
    wave: np.ndarray, sr: int = SAMPLE_RATE, max_points: int = 2000
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times, low, high)`` for plotting a clip with at most ``max_points`` points: the minimum and maximum
    sample of each of ``max_points`` equal blocks (the samples themselves if the clip is shorter)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    if max_points < 1:
        raise ValueError("max_points must be >= 1")
    n = wave.size
    if n <= max_points:
        times = np.arange(n, dtype=np.float64) / sr
        return times, wave.copy(), wave.copy()
    edges = np.linspace(0, n, max_points + 1).astype(np.int64)
    low = np.minimum.reduceat(wave, edges[:-1])
    high = np.maximum.reduceat(wave, edges[:-1])
    times = (edges[:-1] + edges[1:]) / 2.0 / sr
    return times, low, high


def spectrogram(
    wave: np.ndarray,
    sr: int = SAMPLE_RATE,
    n_fft: int = 512,
    hop: int = 160,
    win_length: int = 400,
    top_db: float = 80.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power spectrogram in dB: ``(times, freqs, db)`` with ``db`` of shape ``(n_fft // 2 + 1, n_frames)``.

    Frames of ``win_length`` samples (Hann window, zero-padded to ``n_fft``) every ``hop`` samples, no
    centring: ``n_frames = 1 + (max(len, win_length) - win_length) // hop`` (a clip shorter than one window
    is zero-padded to one frame). dB are relative to the loudest bin and floored at ``-top_db``.
    ``times`` are frame centres in seconds, ``freqs`` in Hz.
    """
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    if not 0 < win_length <= n_fft:
        raise ValueError("need 0 < win_length <= n_fft")
    if hop < 1:
        raise ValueError("hop must be >= 1")
    if wave.size < win_length:
        wave = np.pad(wave, (0, win_length - wave.size))
    frames = np.lib.stride_tricks.sliding_window_view(wave, win_length)[::hop]
    spectrum = np.fft.rfft(frames * np.hanning(win_length), n=n_fft, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).T
    ref = max(float(power.max()), 1e-20)
    db = 10.0 * np.log10(np.maximum(power, ref * 1e-12) / ref)
    db = np.maximum(db, -float(top_db)).astype(np.float32)
    times = (np.arange(frames.shape[0]) * hop + win_length / 2.0) / sr
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    return times, freqs, db


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------


def share_kept(contrib: np.ndarray | torch.Tensor, n_selected: int) -> float:
    """Share of the predicted "I"-logit change kept by the top ``n_selected`` features:
    ``Σ_{p∈S} c_p / Σ_{p: c_p>0} c_p`` with S the ``n_selected`` largest contributions.

    It rises to exactly 1.0 when S is precisely the positive features (``n_selected`` = number of
    ``c_p > 0``), then falls as negative contributions are added: at 100% it is ``Σ c_p / Σ c_p⁺``, which
    is 1.0 only if no contribution is negative. NaN when no contribution is positive.
    """
    c = np.sort(np.asarray(contrib, dtype=np.float64).reshape(-1))[::-1]
    positive = float(c[c > 0].sum())
    if positive <= 0.0:
        return float("nan")
    return float(c[: max(0, int(n_selected))].sum() / positive)


class FeatureAnalysis:
    """Everything the Features page shows for one (model, pairs, modality), computed once.

    Build it with :meth:`from_model`. Attributes: ``pairs``, ``modality``, ``seed``, ``reps`` (the three
    representation sets of :func:`~rrs.representations.extract_pairs`), ``features`` (SafetyFeatures at the
    build-time ``top_percent``), ``preview`` (FirstTokenPreview; its base logits computed once),
    ``category_deltas`` (category -> ΔV̄ over that category's pairs), ``model_name``, ``fingerprint``.
    """

    def __init__(
        self,
        pairs: Sequence[Pair],
        modality: str,
        reps: dict[str, torch.Tensor],
        features: SafetyFeatures,
        preview: FirstTokenPreview,
        *,
        seed: int = 0,
        model_name: str = "",
        fingerprint: str = "",
    ) -> None:
        import torch

        from rrs.features import delta_mean

        self.pairs = tuple(pairs)
        self.modality = check_modality(modality)
        self.reps = reps
        self.features = features
        self.preview = preview
        self.seed = int(seed)
        self.model_name = model_name
        self.fingerprint = fingerprint
        if len(self.pairs) != reps["benign"].shape[0]:
            raise ValueError(f"{len(self.pairs)} pairs but {reps['benign'].shape[0]} representations")

        by_category: dict[str, list[int]] = {}
        for i, pair in enumerate(self.pairs):
            by_category.setdefault(pair.category, []).append(i)
        self.category_deltas = {
            c: delta_mean(reps["harmful_refusal"][idx], reps["benign"][idx]) for c, idx in by_category.items()
        }
        self.category_sizes = {c: len(idx) for c, idx in by_category.items()}

        # Precomputed once so that readouts() costs one small matvec and two small argmaxes.
        contrib = features.contrib.detach().float().cpu()
        self.order = torch.argsort(contrib, descending=True, stable=True)  # select_top's order
        self.sorted_contrib = contrib[self.order].numpy().astype(np.float64)
        self._cumsum = np.concatenate([[0.0], np.cumsum(self.sorted_contrib)])
        self.positive_sum = float(self.sorted_contrib[self.sorted_contrib > 0].sum())
        self.n_positive = int((self.sorted_contrib > 0).sum())
        self._delta = features.delta.detach().float().cpu()
        base = {k: np.ascontiguousarray(v.numpy()) for k, v in preview.base.items()}
        self._refusal_ids = preview.refusal_ids.numpy()
        self._before = {k: self._rate(v.argmax(axis=1)) for k, v in base.items()}
        self._vocab = self._reachable_tokens(base)
        with torch.no_grad():
            self._weight = preview.weight[torch.from_numpy(self._vocab)].contiguous()
        self._base = {k: np.ascontiguousarray(v[:, self._vocab]) for k, v in base.items()}
        self._buffer = {k: np.empty_like(v) for k, v in self._base.items()}
        self._memo: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _reachable_tokens(self, base: dict[str, np.ndarray], chunk: int = 4096) -> np.ndarray:
        """Token ids that can be a first-token argmax for some top-k selection (k = 0..hidden), ascending.

        For every token v the shift s_v(k) = Σ_{j<k} W[v, order_j]·ΔV̄[order_j] lies between the smallest
        and the largest of its prefix sums (D_v <= 0 <= U_v), computed once in one pass over W. A harmful
        row i (logits b_i + s) can only pick v if b_iv + U_v >= max_u (b_iu + D_u); benign rows (b_i − s)
        likewise with the roles of U and D swapped. Every other token is dropped, which keeps readouts
        exact (up to float rounding, covered by a margin) while touching a small part of the vocabulary.
        """
        import torch

        weight, vocab = self.preview.weight, self.preview.weight.shape[0]
        delta = self._delta[self.order]
        upper = torch.empty(vocab)
        lower = torch.empty(vocab)
        with torch.no_grad():
            for lo in range(0, vocab, chunk):
                sums = (weight[lo : lo + chunk][:, self.order] * delta).cumsum(dim=1)
                upper[lo : lo + chunk] = sums.max(dim=1).values.clamp(min=0.0)
                lower[lo : lo + chunk] = sums.min(dim=1).values.clamp(max=0.0)
        up, down = upper.numpy(), lower.numpy()
        margin = 1e-3 * (1.0 + float(max(up.max(initial=0.0), -down.min(initial=0.0))))
        keep = np.zeros(vocab, dtype=bool)
        for logits, plus, minus in ((base["harmful"], up, down), (base["benign"], -down, -up)):
            if logits.shape[0]:
                floor = (logits + minus).max(axis=1, keepdims=True)
                keep |= (logits + plus + margin >= floor - margin).any(axis=0)
        return np.flatnonzero(keep)

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_model(
        cls,
        model: LALM,
        pairs: Sequence[Pair],
        modality: str = "audio-text",
        *,
        seed: int = 0,
        top_percent: float = 25.0,
        batch_size: int = 8,
        progress: ProgressFn | None = None,
    ) -> FeatureAnalysis:
        """Speech (speech cache) -> f(d_h, t), f(d_h, t̃), f(d_b, t) (representation disk cache: only
        missing entries cost a forward pass) -> SafetyFeatures and FirstTokenPreview.

        ``progress(fraction, message)`` is called as work advances (speech 0-30%, representations to 95%).
        Note that only audio-text mode has a text instruction; in text-only and audio-only modes t and t̃
        render the same prompt, so ΔV̄ there is mean(f(d_h) − f(d_b)).
        """
        import torch

        from rrs.data import EXTRACTION_PROMPT, REFUSAL_EXTRACTION_PROMPT, to_queries
        from rrs.features import FirstTokenPreview, compute_features, refusal_opener_ids
        from rrs.representations import extract_pairs

        modality = check_modality(modality)
        pairs = list(pairs)
        if not pairs:
            raise ValueError("no pairs to analyse")
        report = progress or (lambda _f, _m: None)
        with_audio = modality != "text-only"
        n = len(pairs)

        harmful, benign = [], []
        for i, pair in enumerate(pairs):
            if with_audio:
                report(0.3 * i / n, f"Speech {i + 1}/{n}")
            harmful += to_queries([pair.harmful], seed, with_audio=with_audio, progress=False)
            benign += to_queries([pair.benign], seed, with_audio=with_audio, progress=False)
        start = 0.3 if with_audio else 0.0

        parts: list[dict[str, torch.Tensor]] = []
        for lo in range(0, n, batch_size):
            report(start + (0.95 - start) * lo / n, f"Representations {lo}/{n} pairs")
            parts.append(
                extract_pairs(model, harmful[lo : lo + batch_size], benign[lo : lo + batch_size], modality,
                              EXTRACTION_PROMPT, REFUSAL_EXTRACTION_PROMPT, batch_size=batch_size,
                              progress=False)
            )
        reps = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
        report(0.95, "First-token preview")
        features = compute_features(
            reps, model.lm_head_row(model.refusal_token_id), top_percent, model.refusal_token_id
        )
        features.refusal_token = model.refusal_token
        bias = getattr(model.lm_head, "bias", None)
        preview = FirstTokenPreview(model.lm_head.weight, reps["harmful"], reps["benign"],
                                    refusal_opener_ids(model.tokenizer), bias)
        analysis = cls(pairs, modality, reps, features, preview, seed=seed, model_name=model.name,
                       fingerprint=model.fingerprint())
        report(1.0, "Done")
        return analysis

    # ---- readouts ------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return int(self.sorted_contrib.size)

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def n_selected(self, top_percent: float) -> int:
        from rrs.features import n_selected

        return n_selected(self.hidden_size, top_percent)

    def mask(self, top_percent: float) -> torch.Tensor:
        """The top-m% selection (the same as ``features.with_top(top_percent).mask``)."""
        import torch

        mask = torch.zeros(self.hidden_size, dtype=torch.bool)
        mask[self.order[: self.n_selected(top_percent)]] = True
        return mask

    def selection(self, top_percent: float) -> SafetyFeatures:
        return self.features.with_top(top_percent)

    def _rate(self, top_tokens: np.ndarray) -> float:
        """Refusal % among first tokens (argmax token ids)."""
        if top_tokens.size == 0:
            return float("nan")
        return 100.0 * float(np.isin(top_tokens, self._refusal_ids).mean())

    @property
    def n_reachable_tokens(self) -> int:
        """Size of the vocabulary part readouts() has to look at (see :meth:`_reachable_tokens`)."""
        return int(self._vocab.size)

    def readouts(self, top_percent: float) -> dict[str, Any]:
        """What keeping the top ``top_percent``% features means, without touching the model:

        * ``n_selected``, ``hidden_size``, ``top_percent``
        * ``predicted_delta_logit``: Σ_{p∈S} c_p, the predicted change of the "I" logit from adding ΔV̄ˢ
        * ``share_of_predicted_logit_kept``: Σ_{p∈S} c_p / Σ_{p: c_p>0} c_p (see :func:`share_kept`): 1.0
          exactly when S is the set of positive contributions, Σc/Σc⁺ at 100%, NaN if none is positive
        * ``harmful_refusal_before/after``: first-token refusal % of the harmful prompts f(d_h, t) without
          and with +ΔV̄ˢ; ``benign_refusal_before/after``: of the benign ones, with −ΔV̄ˢ
          (as :meth:`FirstTokenPreview.compare`)
        * ``safety_vector_norm``: ‖ΔV̄ˢ‖

        Cost: one matvec and two argmaxes over the tokens that can win at all (found once at construction,
        usually a small part of the vocabulary; at worst all of it); results are memoised per selection size.
        """
        k = self.n_selected(top_percent)
        with self._lock:
            if k not in self._memo:
                self._memo[k] = self._compute(k)
            out = dict(self._memo[k])
        out["top_percent"] = float(top_percent)
        return out

    def _compute(self, k: int) -> dict[str, Any]:
        import torch

        idx = self.order[:k]
        vector = torch.zeros(self.hidden_size)
        vector[idx] = self._delta[idx]
        with torch.no_grad():
            shift = (self._weight @ vector).numpy()  # W @ ΔV̄ˢ on the reachable tokens only
        harmful = np.add(self._base["harmful"], shift, out=self._buffer["harmful"])
        benign = np.subtract(self._base["benign"], shift, out=self._buffer["benign"])
        after = {
            "harmful": self._rate(self._vocab[harmful.argmax(axis=1)]) if harmful.size else math.nan,
            "benign": self._rate(self._vocab[benign.argmax(axis=1)]) if benign.size else math.nan,
        }
        predicted = float(self._cumsum[k])
        return {
            "n_selected": k,
            "hidden_size": self.hidden_size,
            "predicted_delta_logit": predicted,
            "share_of_predicted_logit_kept": (
                predicted / self.positive_sum if self.positive_sum > 0 else math.nan
            ),
            "harmful_refusal_before": self._before["harmful"],
            "harmful_refusal_after": after["harmful"],
            "benign_refusal_before": self._before["benign"],
            "benign_refusal_after": after["benign"],
            "safety_vector_norm": float(vector.norm()),
        }

    def category_norms(self, top_percent: float | None = None) -> pd.DataFrame:
        """Per category: ``n_pairs``, ``delta_norm`` ‖ΔV̄_c‖ (ΔV̄ over that category's pairs),
        ``selected_norm`` ‖ΔV̄_c ⊙ mask‖ for the top-m% mask (NaN without ``top_percent``) and
        ``cosine`` between ΔV̄_c and the overall ΔV̄. Sorted by ``delta_norm``, largest first."""
        import pandas as pd
        import torch

        mask = None if top_percent is None else self.mask(top_percent).float()
        overall = self._delta
        rows = []
        for category, delta in self.category_deltas.items():
            cosine = float(torch.nn.functional.cosine_similarity(delta, overall, dim=0))
            selected = math.nan if mask is None else float((delta * mask).norm())
            rows.append((category, self.category_sizes[category], float(delta.norm()), selected, cosine))
        table = pd.DataFrame(rows, columns=["category", "n_pairs", "delta_norm", "selected_norm", "cosine"])
        return table.sort_values("delta_norm", ascending=False, kind="stable").reset_index(drop=True)

    def save(self, folder: str | Path, top_percent: float) -> Path:
        """Write the selection with :meth:`SafetyFeatures.save` plus ``analysis.json`` (pairs, modality,
        model, readouts) into ``folder``; returns the folder."""
        from rrs.store import atomic_write_json

        folder = self.selection(top_percent).save(folder)
        readouts = self.readouts(top_percent)
        atomic_write_json(
            Path(folder) / "analysis.json",
            {
                "model": self.model_name,
                "model_fingerprint": self.fingerprint,
                "modality": self.modality,
                "seed": self.seed,
                "n_pairs": self.n_pairs,
                "categories": dict(self.category_sizes),
                "pair_uids": [pair_uid(p) for p in self.pairs],
                "readouts": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                             for k, v in readouts.items()},
            },
        )
        return Path(folder)

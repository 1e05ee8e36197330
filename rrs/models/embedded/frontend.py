"""The embedded model's speech front end: Whisper tiny.en decoder states -> soft tokens in the LLM's space.

For each clip, Whisper's decoder runs greedily over the encoder output of the clip padded to 30 s
(without that padding it loops). The last-layer, post-norm decoder state that predicted each text token
is kept. A fixed soft-token bridge maps each state into the LLM's input-embedding space:

    soft = softmax(state @ E_whisper^T) @ T

where ``T[w]`` is the mean LLM input embedding of Whisper token ``w``'s string re-tokenised by the LLM
tokenizer. The bridge has no trainable parameters; what the LLM learns in modality adaptation is how to
read these soft tokens (LoRA on the LLM).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rrs.models.base import weights_fingerprint

MAX_TEXT_TOKENS = 96


@dataclass
class Transcript:
    """What the front end heard: decoded text and the per-token decoder states (n_tokens, d_whisper)."""

    text: str
    token_ids: list[int]
    states: Any  # torch.Tensor


class WhisperFrontEnd:
    """Frozen Whisper + fixed bridge. ``encode_audio`` returns soft tokens (n, d_llm) per clip."""

    def __init__(self, whisper: Any, whisper_tokenizer: Any, bridge: Any) -> None:
        from transformers import WhisperFeatureExtractor

        self.whisper = whisper.eval()
        self.tokenizer = whisper_tokenizer
        self.bridge = bridge  # (vocab_whisper, d_llm) tensor
        self.features = WhisperFeatureExtractor(feature_size=whisper.config.num_mel_bins)
        self.eot = whisper_tokenizer.convert_tokens_to_ids("<|endoftext|>")
        self.prefix = [
            whisper_tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
            whisper_tokenizer.convert_tokens_to_ids("<|notimestamps|>"),
        ]

    def fingerprint(self) -> str:
        import torch

        holder = torch.nn.Module()
        holder.whisper = self.whisper
        holder.register_buffer("bridge", self.bridge)
        return weights_fingerprint(holder, extra={"frontend": "whisper-soft-bridge", "max": MAX_TEXT_TOKENS})

    @property
    def device(self) -> Any:
        return next(self.whisper.parameters()).device

    def transcribe_states(self, waves: Sequence[np.ndarray], max_tokens: int = MAX_TEXT_TOKENS) -> list[Transcript]:
        """Greedy batched decoding; returns the text and the states that predicted each text token."""
        import torch
        from transformers import DynamicCache, EncoderDecoderCache

        feats = self.features(
            [np.asarray(w, dtype=np.float32) for w in waves], sampling_rate=16_000, return_tensors="pt"
        ).input_features.to(self.device, next(self.whisper.parameters()).dtype)
        model = self.whisper.model
        batch = len(waves)
        embed = model.decoder.embed_tokens.weight
        # Tokens a transcript may contain: ordinary text tokens and end-of-text.
        allowed = torch.full((embed.shape[0],), float("-inf"), device=self.device)
        allowed[: self.eot + 1] = 0.0
        for tok in self.whisper.config.suppress_tokens or []:
            if tok < self.eot:
                allowed[tok] = float("-inf")
        with torch.no_grad():
            enc = model.encoder(feats).last_hidden_state
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
            tokens = torch.tensor([self.prefix] * batch, device=self.device)
            step_input = tokens
            done = torch.zeros(batch, dtype=torch.bool, device=self.device)
            ids: list[list[int]] = [[] for _ in range(batch)]
            states: list[list[Any]] = [[] for _ in range(batch)]
            for step in range(max_tokens):
                out = model.decoder(
                    input_ids=step_input, encoder_hidden_states=enc, past_key_values=cache, use_cache=True
                )
                cache = out.past_key_values
                state = out.last_hidden_state[:, -1]
                logits = state @ embed.T + allowed
                if step == 0:  # never start with end-of-text or a bare space
                    logits[:, self.eot] = float("-inf")
                    logits[:, 220] = float("-inf")
                nxt = logits.argmax(-1)
                for i in range(batch):
                    if done[i]:
                        continue
                    if int(nxt[i]) == self.eot or _repeating(ids[i]):
                        done[i] = True
                        continue
                    ids[i].append(int(nxt[i]))
                    states[i].append(state[i])
                if bool(done.all()):
                    break
                step_input = nxt[:, None]
        results = []
        for i in range(batch):
            stacked = torch.stack(states[i]) if states[i] else torch.zeros(0, embed.shape[1])
            results.append(Transcript(self.tokenizer.decode(ids[i]).strip(), ids[i], stacked))
        return results

    def soft_tokens(self, states: Any) -> Any:
        """Map decoder states (n, d_whisper) to soft input embeddings (n, d_llm)."""
        import torch

        embed = self.whisper.model.decoder.embed_tokens.weight
        with torch.no_grad():
            probs = torch.softmax(states.float() @ embed.float().T, dim=-1)
            return probs @ self.bridge.float()

    def encode_audio(self, waves: Sequence[np.ndarray]) -> tuple[list[Any], list[str]]:
        """Soft tokens per clip and the transcript Whisper heard (for display and checks)."""
        transcripts = self.transcribe_states(waves)
        return [self.soft_tokens(t.states) for t in transcripts], [t.text for t in transcripts]


def _repeating(ids: list[int], span: int = 6) -> bool:
    """Stop a decoder that has started to loop (the same n-gram three times at the end)."""
    for n in range(1, span + 1):
        if len(ids) >= 3 * n and ids[-n:] == ids[-2 * n : -n] == ids[-3 * n : -2 * n]:
            return True
    return False


def build_bridge(whisper_tokenizer: Any, n_whisper: int, llm_tokenizer: Any, llm_embeddings: Any) -> Any:
    """T[w] = mean LLM input embedding of Whisper token w's text re-tokenised by the LLM tokenizer.

    Special Whisper tokens (id >= end-of-text) map to zero: the front end never emits them.
    """
    import torch

    vocab = llm_embeddings.shape[0]
    eot = whisper_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bridge = torch.zeros(n_whisper, llm_embeddings.shape[1], dtype=torch.float32)
    strings = [whisper_tokenizer.decode([i]) for i in range(eot)]
    encoded = llm_tokenizer(strings, add_special_tokens=False)["input_ids"]
    emb = llm_embeddings.detach().float()
    for i, ids in enumerate(encoded):
        ids = [t for t in ids if t < vocab]
        if ids:
            bridge[i] = emb[ids].mean(0)
    return bridge

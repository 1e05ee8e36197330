"""Parameter, memory and FLOP plan of an audio LLM for extraction, RRS tuning and generation.

Pure functions over a :class:`Shape` (read from a ``transformers`` config by :func:`shape_from_config`);
``python -m rrs.plan`` prints them (``rrs/plan.py``). Symbols: ``B`` samples per device per forward
(micro-batch), ``T`` prompt tokens per sample (audio tokens + text), ``b`` bytes per element of the model
dtype, ``H`` LLM width, ``L`` decoder layers, ``nh``/``nkv`` query/KV heads of width ``hd``, ``I`` MLP width,
``V`` vocabulary, ``r`` LoRA rank; ``d``, ``La``, ``f`` width, layers and FFN width of the audio encoder,
which sees ``Pa`` positions per clip (Qwen2-Audio pads every clip to 30 s: always 1500; Omni encodes only
the clip: 50 per second) and emits ``Pa/2`` audio tokens.

Parameters (exact; ``tests/test_plan.py`` checks them against the meta-built models)
    LLM layer   = H·nh·hd + nh·hd (q, bias) + 2·(H·nkv·hd + nkv·hd) (k, v, bias) + nh·hd·H (o) + 3·H·I + 2·H
    LLM         = V·H (embeddings) + L·layer + H (final norm);  lm_head = V·H unless tied
    encoder     = convs (mel·d·3 + d, d·d·3 + d) + La·(4d² + 3d + 2fd + f + d + 4d) + final LayerNorm 2d
                  (+ Qwen2-Audio: learned positions 1500·d and projector d·H + H;
                   + Omni: its own projection d·H + H and 2·H begin/end embeddings; vision tower counted whole)
    LoRA        = Σ over adapted modules r·(in + out)  (q, k, v, o, gate, up, down; rrs.tuning defaults r 16)

Memory per device (bytes)
    weights     = P_total·b (every tower stays resident, frozen or not)
    LoRA state  = 16 per LoRA parameter: fp32 weight, fp32 grad, AdamW m and v (peft keeps adapters in fp32)
    saved activations per token and decoder layer in LoRA tuning, as autograd keeps them (frozen linears
    keep nothing; what requires grad keeps its inputs):
        a_tok = 4·2H (the two RMSNorms keep an fp32 copy of their input)
              + b·(2·nh·hd + 2·nkv·hd) (q, k, v and the attention output, for the attention backward)
              + b·3I (SiLU input, its output and up_proj's output, for the gated product)
              + b·n_in + m·n_in (each LoRA module keeps its dropout output and its dropout mask, m = 1 byte
                on CUDA's fused dropout, m = b on CPU; n_in = 3H + nh·hd + 2H + I; with dropout 0 they share
                tensors: n_in = 2H + I, no masks)
              (+ b·nh·T when the attention probabilities are materialised, as eager attention does)
    penalty     = 0 with the Gram form rrs.tuning uses, s²·Σ (BᵀB) ⊙ (AAᵀ) from r × r matrices; 4·P_mm when
                  λ‖scaling·B·A‖² forms every adapted module's full (out × in) update in fp32 and autograd
                  keeps it until the backward (``--penalty materialised``; P_mm = the adapted matmul weights)
    tuning, no checkpointing:  weights + LoRA state + B·T·H·b (embeddings) + B·T·L·a_tok
                               + max(penalty, 2·B·T·(H + I)·b): the backward frees the penalty's tensors
                               first (its nodes are the newest), then gradients of one layer are in flight
    tuning, checkpointing:     weights + LoRA state + B·T·H·b + B·T·L·H·b (each layer's input)
                               + max(penalty, B·T·a_tok + 2·B·T·(H + I)·b) (one layer recomputed)
    extraction (no grad):      weights + max(LLM working set, encoder working set) + B·T·H·b (embeddings)
        LLM working set  = B·T·b·(3H + 3I) (+ 2·4·B·nh·T² for materialised fp32 scores and probabilities)
        encoder working  = B·Pa·b·(3d + 2f) + B·mel·2Pa·4 (input features) (+ 2·4·B·heads·Pa·W when
                           materialised; W = Pa, or Omni's 100-position windows)
    generation:  extraction + KV cache 2·L·B·(T + new)·nkv·hd·b + logits B·V·4

FLOPs (multiply-adds count 2; causal attention counts its lower half)
    LLM forward per sample     = 2·P_mm·T + 2·L·nh·hd·T² + 2·H·V (lm_head at the last position only)
                                 (P_mm: the decoder's matmul weights, L·(layer − biases − norms))
    LoRA forward per sample    = 2·P_lora·T
    encoder forward per clip   = 2·P_enc_mm·Pa + 4·La·d·Pa·W + convs 2·3·(mel·d·2Pa + d²·Pa)
    tuning step per sample     = encoder + LLM·(2 + ckpt) + 3·LoRA  (the backward of a frozen linear needs
                                 only the input gradient, 1× its forward; LoRA needs both, 2×; attention's
                                 backward is counted as 1× too, a floor; checkpointing adds one forward)
    generation per sample      = prefill + new·(2·P_mm + 2·H·V) + attention over the cache
Projected time = FLOPs / (devices · rate): a floor at the given matmul rate; measured steps are slower by
the kernels' efficiency (docs/BENCHMARKS.md). A run of N samples × E epochs = ⌈N/batch⌉·E steps, plus the
RRS targets' extraction: 3 passes over N/2 pairs = 1.5·N forwards.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

DTYPE_BYTES = {"fp32": 4, "float32": 4, "bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2}
LORA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
#: Optimiser and gradient bytes per trainable parameter: fp32 weight, fp32 grad, AdamW exp_avg, exp_avg_sq.
LORA_STATE_BYTES = 16
#: Audio tokens per second of speech after the encoder's stride-2 conv and 2x pooling (both families).
AUDIO_TOKENS_PER_SECOND = 25
QWEN2_AUDIO_POSITIONS = 1500  # 30 s of 10 ms mel frames after the stride-2 conv
OMNI_WINDOW = 100  # positions per attention window (n_window)


@dataclass(frozen=True)
class Shape:
    name: str
    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    tied: bool
    audio: str | None = None  # "qwen2_audio", "omni" or None (text-only LLM)
    audio_width: int = 0
    audio_layers: int = 0
    audio_heads: int = 0
    audio_ffn: int = 0
    mel_bins: int = 0
    audio_max_positions: int = 0
    vision_params: int = 0


def _get(config: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    return default


def shape_from_config(config: Any, name: str = "") -> Shape:
    """Read a Qwen2-Audio, Qwen2.5-Omni (full or thinker) or plain Qwen2 ``transformers`` config."""
    kind = getattr(config, "model_type", "")
    if kind == "qwen2_5_omni":
        config = config.thinker_config
        kind = config.model_type
    text = config.text_config if kind in ("qwen2_audio", "qwen2_5_omni_thinker") else config
    heads = int(text.num_attention_heads)
    head_dim = int(_get(text, "head_dim", default=text.hidden_size // heads))
    fields: dict[str, Any] = dict(
        name=name or kind, vocab=int(text.vocab_size), hidden=int(text.hidden_size),
        layers=int(text.num_hidden_layers), heads=heads, kv_heads=int(_get(text, "num_key_value_heads", default=heads)),
        head_dim=head_dim, intermediate=int(text.intermediate_size),
        tied=bool(getattr(config, "tie_word_embeddings", False) if kind != "qwen2" else text.tie_word_embeddings),
    )
    if kind in ("qwen2_audio", "qwen2_5_omni_thinker"):
        a = config.audio_config
        fields.update(
            audio="qwen2_audio" if kind == "qwen2_audio" else "omni", audio_width=int(a.d_model),
            audio_layers=int(a.encoder_layers), audio_heads=int(a.encoder_attention_heads),
            audio_ffn=int(a.encoder_ffn_dim), mel_bins=int(a.num_mel_bins),
            audio_max_positions=int(a.max_source_positions),
        )
    if kind == "qwen2_5_omni_thinker":
        fields["vision_params"] = vision_params(config.vision_config)
    return Shape(**fields)


def vision_params(v: Any) -> int:
    """Qwen2.5-Omni's vision tower (Qwen2.5-VL ViT): patch conv, blocks, patch merger."""
    h, i, out = int(v.hidden_size), int(v.intermediate_size), int(v.out_hidden_size)
    patch = int(v.in_channels) * int(v.temporal_patch_size) * int(v.patch_size) ** 2 * h
    block = 2 * h + 4 * (h * h + h) + 2 * (h * i + i) + (i * h + h)
    merged = h * int(v.spatial_merge_size) ** 2
    merger = h + merged * merged + merged + merged * out + out
    return patch + int(v.depth) * block + merger


# ---- parameters ---------------------------------------------------------------------------------
def module_dims(s: Shape) -> dict[str, tuple[int, int]]:
    """(in, out) of each LoRA-able projection of one decoder layer."""
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    return {"q_proj": (s.hidden, q), "k_proj": (s.hidden, kv), "v_proj": (s.hidden, kv), "o_proj": (q, s.hidden),
            "gate_proj": (s.hidden, s.intermediate), "up_proj": (s.hidden, s.intermediate),
            "down_proj": (s.intermediate, s.hidden)}


def llm_layer_params(s: Shape) -> int:
    dims = module_dims(s)
    matmul = sum(i * o for i, o in dims.values())
    biases = dims["q_proj"][1] + dims["k_proj"][1] + dims["v_proj"][1]
    return matmul + biases + 2 * s.hidden


def llm_matmul_params(s: Shape) -> int:
    return s.layers * sum(i * o for i, o in module_dims(s).values())


def audio_encoder_params(s: Shape) -> int:
    if s.audio is None:
        return 0
    d, f = s.audio_width, s.audio_ffn
    convs = s.mel_bins * d * 3 + d + d * d * 3 + d
    layer = 4 * d * d + 3 * d + 2 * f * d + f + d + 4 * d
    total = convs + s.audio_layers * layer + 2 * d
    if s.audio == "qwen2_audio":
        return total + s.audio_max_positions * d  # learned positions (sinusoids are a buffer in Omni)
    return total + d * s.hidden + s.hidden + 2 * s.hidden  # Omni: projection and audio begin/end embeddings


def param_counts(s: Shape) -> dict[str, int]:
    counts = {
        "llm": s.vocab * s.hidden + s.layers * llm_layer_params(s) + s.hidden,
        "lm_head": 0 if s.tied else s.vocab * s.hidden,
        "audio_encoder": audio_encoder_params(s),
        "projector": s.audio_width * s.hidden + s.hidden if s.audio == "qwen2_audio" else 0,
        "vision": s.vision_params,
    }
    counts["total"] = sum(counts.values())
    return counts


def lora_params(s: Shape, r: int = 16, modules: tuple[str, ...] = LORA_MODULES, n_layers: int | None = None) -> int:
    dims = module_dims(s)
    return (s.layers if n_layers is None else n_layers) * sum(r * sum(dims[m]) for m in modules)


# ---- memory -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    batch: int = 16  # samples per optimiser step, all devices together
    micro_batch: int | None = None  # samples per device per forward (default batch // devices)
    audio_seconds: float = 5.0
    text_tokens: int = 48
    seq_len: int | None = None  # prompt tokens per sample (default: audio tokens + text tokens)
    new_tokens: int = 256
    dtype: str = "bf16"
    lora_r: int = 16
    lora_dropout: float = 0.1
    devices: int = 1
    materialised_attention: bool = False  # eager attention / CPU math path; False: SDPA flash kernels
    device: str = "cuda"  # "cpu": dropout keeps a mask of the model dtype (CUDA's fused dropout: 1 byte)
    #: True plans the penalty formed as every full scaling·B·A in fp32 (rrs.tuning before 2026-12-02);
    #: rrs.tuning.lora_delta_penalty now uses the r × r Gram form, which needs no large tensors.
    penalty_materialised: bool = False

    @property
    def b(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def micro(self) -> int:
        return self.micro_batch or max(1, self.batch // self.devices)

    def tokens(self, s: Shape) -> int:
        if self.seq_len is not None:
            return self.seq_len
        audio = int(AUDIO_TOKENS_PER_SECOND * self.audio_seconds) if s.audio else 0
        return audio + self.text_tokens

    def positions(self, s: Shape) -> int:
        if s.audio == "qwen2_audio":
            return s.audio_max_positions
        return int(2 * AUDIO_TOKENS_PER_SECOND * self.audio_seconds) if s.audio else 0


def saved_per_token_layer(s: Shape, w: Workload, T: int) -> int:
    """a_tok: bytes autograd keeps per token and decoder layer during LoRA tuning (all 7 modules adapted)."""
    H, mlp, b = s.hidden, s.intermediate, w.b
    q, kv = s.heads * s.head_dim, s.kv_heads * s.head_dim
    n_in = (3 * H + q + 2 * H + mlp) if w.lora_dropout > 0 else (2 * H + mlp)
    masks = (n_in if w.device.startswith("cuda") else b * n_in) if w.lora_dropout > 0 else 0
    probs = b * s.heads * T if w.materialised_attention else 0
    return 4 * 2 * H + b * (2 * q + 2 * kv) + b * 3 * mlp + b * n_in + masks + probs


def llm_working_set(s: Shape, w: Workload, B: int, T: int) -> int:
    scores = 2 * 4 * B * s.heads * T * T if w.materialised_attention else 0
    return B * T * w.b * (3 * s.hidden + 3 * s.intermediate) + scores


def encoder_working_set(s: Shape, w: Workload, B: int) -> int:
    if s.audio is None:
        return 0
    pa = w.positions(s)
    window = pa if s.audio == "qwen2_audio" else min(pa, OMNI_WINDOW)
    scores = 2 * 4 * B * s.audio_heads * pa * window if w.materialised_attention else 0
    return B * pa * w.b * (3 * s.audio_width + 2 * s.audio_ffn) + B * s.mel_bins * 2 * pa * 4 + scores


def memory_plan(s: Shape, w: Workload) -> dict[str, int]:
    """Predicted peak bytes per device of each job."""
    B, T, b = w.micro, w.tokens(s), w.b
    weights = param_counts(s)["total"] * b
    lora_state = LORA_STATE_BYTES * lora_params(s, w.lora_r)
    embeds = B * T * s.hidden * b
    extraction = weights + embeds + max(llm_working_set(s, w, B, T), encoder_working_set(s, w, B))
    a_tok = saved_per_token_layer(s, w, T)
    penalty = 4 * llm_matmul_params(s) if w.penalty_materialised and w.lora_r > 0 else 0
    backward = B * T * b * 2 * (s.hidden + s.intermediate)  # one layer's activation gradients in flight
    fixed = weights + lora_state + embeds
    # The penalty's nodes are the newest in the graph, so the backward frees them first: they peak with the
    # forward's saved activations, the in-flight gradients (and a recomputed layer) after them.
    tune = fixed + B * T * s.layers * a_tok + max(penalty, backward)
    tune_ckpt = fixed + B * T * s.layers * s.hidden * b + max(penalty, B * T * a_tok + backward)
    kv = 2 * s.layers * B * (T + w.new_tokens) * s.kv_heads * s.head_dim * b
    generation = extraction + kv + B * s.vocab * 4
    return {"weights": weights, "lora_state": lora_state, "penalty": penalty, "extraction": extraction, "tuning": tune,
            "tuning_checkpointed": tune_ckpt, "kv_cache": kv, "generation": generation}


# ---- FLOPs --------------------------------------------------------------------------------------
def encoder_flops(s: Shape, w: Workload) -> float:
    if s.audio is None:
        return 0.0
    d, pa = s.audio_width, w.positions(s)
    window = pa if s.audio == "qwen2_audio" else min(pa, OMNI_WINDOW)
    matmul = s.audio_layers * (4 * d * d + 2 * d * s.audio_ffn)
    convs = 2 * 3 * (s.mel_bins * d * 2 * pa + d * d * pa)
    project = 2 * d * s.hidden * pa // 2
    return 2.0 * matmul * pa + 4.0 * s.audio_layers * d * pa * window + convs + project


def llm_forward_flops(s: Shape, T: int) -> float:
    return 2.0 * llm_matmul_params(s) * T + 2.0 * s.layers * s.heads * s.head_dim * T * T + 2.0 * s.hidden * s.vocab


def flops_plan(s: Shape, w: Workload, checkpointing: bool = True) -> dict[str, float]:
    """FLOPs per sample of each job, and per optimiser step of tuning."""
    T = w.tokens(s)
    enc, llm = encoder_flops(s, w), llm_forward_flops(s, T)
    lora = 2.0 * lora_params(s, w.lora_r) * T
    forward = enc + llm
    tune = enc + llm * (2 + int(checkpointing)) + 3 * lora
    ctx = T + w.new_tokens / 2  # mean context length while decoding
    decode = w.new_tokens * (2.0 * llm_matmul_params(s) + 2.0 * s.hidden * s.vocab
                             + 4.0 * s.layers * s.heads * s.head_dim * ctx)
    return {"extraction_per_sample": forward, "tuning_per_sample": tune, "tuning_step": tune * w.batch,
            "generation_per_sample": forward + decode}


def run_projection(s: Shape, w: Workload, samples: int, epochs: int, tflops: float,
                   checkpointing: bool = True) -> dict[str, float]:
    """Seconds at ``tflops`` TFLOP/s per device: one tuning step, the tuning epochs, target extraction."""
    f = flops_plan(s, w, checkpointing)
    rate = tflops * 1e12 * w.devices
    steps = math.ceil(samples / w.batch) * epochs
    step_s = f["tuning_step"] / rate
    extract_s = 1.5 * samples * f["extraction_per_sample"] / rate
    return {"step_s": step_s, "steps": steps, "tuning_s": steps * step_s, "targets_s": extract_s,
            "total_s": steps * step_s + extract_s}


def plan_dict(s: Shape, w: Workload, samples: int, epochs: int, tflops: float) -> dict[str, Any]:
    """Everything ``python -m rrs.plan`` prints, as one JSON-ready dict."""
    return {"shape": asdict(s), "workload": {**asdict(w), "tokens": w.tokens(s), "audio_positions": w.positions(s),
                                             "micro_batch": w.micro},
            "params": param_counts(s), "lora_params": lora_params(s, w.lora_r), "memory": memory_plan(s, w),
            "flops": flops_plan(s, w, True), "flops_no_checkpointing": flops_plan(s, w, False),
            "run": run_projection(s, w, samples, epochs, tflops, True),
            "run_no_checkpointing": run_projection(s, w, samples, epochs, tflops, False),
            "samples": samples, "epochs": epochs, "tflops": tflops}

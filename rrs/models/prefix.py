"""Replaying only the tuned layers: the probe a run scores every epoch skips the frozen layers below them.

A tuning run puts LoRA on the top layers (the demo: 14–27 of 28), so the layers below never change, and
neither does what they make of the probe set. :class:`FrozenPrefix` keeps, for each probe batch, the input
of the first tuned layer (captured during the first, full forward pass) and afterwards runs the tuned layers
only, from that input, with the same attention mask. The result is the same computation on the same
numbers, so the states match the full forward pass exactly; on the demo it halves the probe's forward cost.

It applies where the model is fed embeddings and every layer attends alike (the embedded cascade). Other
models run the full forward pass each time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from rrs.models.base import LALM, check_modality
from rrs.models.query import Query

__all__ = ["FrozenPrefix"]

#: The most memory the kept states may take (the demo's probe needs about 120 MiB).
MAX_BYTES = 1 << 30


class FrozenPrefix:
    """Final-norm states at the last prompt token, computed from decoder layer ``start`` on when possible."""

    def __init__(self, model: LALM, start: int, max_bytes: int = MAX_BYTES) -> None:
        self.model, self.start, self.max_bytes = model, int(start), max_bytes
        self.kept: dict[Hashable, tuple[Any, Any]] = {}
        self.bytes = 0

    def usable(self) -> bool:
        """Whether skipping layers is exact for this model: fed embeddings, one kind of attention."""
        config = getattr(self.model._base(), "config", None)
        kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
        return 0 < self.start < self.model.n_layers and len(kinds) == 1 and _owner(self.model) is not None

    def last_hidden(self, key: Hashable, queries: Sequence[Query], modality: str,
                    instruction: str | None = None) -> Any:
        """Like :meth:`LALM.last_hidden` (no gradient); ``key`` names the batch, which must not change."""
        if key in self.kept:
            return self._from_kept(*self.kept[key])
        inputs = self.model.build_inputs(queries, check_modality(modality), instruction)
        got: dict[str, Any] = {}

        def keep(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            got["input"] = (args[0] if args else kwargs["hidden_states"]).detach().clone()

        with contextlib.ExitStack() as stack:
            if "inputs_embeds" in inputs and self.usable():
                layer = self.model.decoder_layers[self.start]
                stack.callback(layer.register_forward_pre_hook(keep, with_kwargs=True).remove)
            final = stack.enter_context(self.model.capture(final=True))
            self.model._forward_prompt(inputs)
        if "input" in got:
            size = got["input"].numel() * got["input"].element_size()
            if self.bytes + size <= self.max_bytes:
                self.kept[key] = (got["input"], inputs["attention_mask"])
                self.bytes += size
        return final["final"].detach()

    def _from_kept(self, hidden: Any, mask: Any) -> Any:
        with self._top_layers_only(), self.model.capture(final=True) as final:
            self.model._forward_prompt({"inputs_embeds": hidden, "attention_mask": mask})
        return final["final"].detach()

    @contextlib.contextmanager
    def _top_layers_only(self) -> Iterator[None]:
        """The LLM with decoder layers ``start``.. only, put back whole on the way out."""
        import torch

        owner, name = _owner(self.model)
        layers = getattr(owner, name)
        setattr(owner, name, torch.nn.ModuleList(list(layers)[self.start :]))
        try:
            yield
        finally:
            setattr(owner, name, layers)


def _owner(model: LALM) -> tuple[Any, str] | None:
    """The module holding the decoder layers, and the attribute they sit under."""
    layers = model.decoder_layers
    for module in model._base().modules():
        for name, child in module.named_children():
            if child is layers:
                return module, name
    return None

"""The published widths on CPU at one decoder layer: processor, template, audio-token expansion, hidden states.

About 1 GB of fp32 weights each (full width, the synthetic tokenizer's vocabulary), hence ``slow``.
"""

from __future__ import annotations

import pytest
import torch

from rrs.models.base import Query
from rrs.models.shapes import QWEN2_AUDIO, QWEN_OMNI
from rrs.testing.models import tiny_audio
from rrs.testing.shapes import random_lalm


@pytest.mark.slow
@pytest.mark.parametrize("name, hidden", [(QWEN2_AUDIO, 4096), (QWEN_OMNI, 3584)])
def test_full_width_hidden_state_path(name, hidden):
    lalm = random_lalm(name, n_layers=1, audio_layers=1, vision_layers=1)
    assert lalm.hidden_size == hidden and lalm.n_layers == 1
    queries = [Query("q0", tiny_audio(1.0, seed=0)), Query("q1", tiny_audio(2.0, seed=1))]
    inputs = lalm.build_inputs(queries, "audio-text")
    audio_id = lalm.processor.tokenizer.convert_tokens_to_ids("<|AUDIO|>")
    expanded = (inputs["input_ids"] == audio_id).sum(dim=1).tolist()
    assert expanded == [25, 50]  # 25 audio tokens per second of speech, in both families
    hidden_states = lalm.last_hidden(queries, "audio-text")
    assert hidden_states.shape == (2, hidden) and torch.isfinite(hidden_states).all()
    logits = lalm.first_token_logits(queries, "audio-text")
    assert torch.allclose(lalm.lm_head(hidden_states).float(), logits, atol=1e-4)
    del lalm

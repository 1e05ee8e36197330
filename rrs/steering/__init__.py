"""SARSteer: Safe-Ablated Refusal Steering (arXiv 2510.17633), an inference-time defence with no training.

For every steered decoder layer ``l``, with ``h_l(x, t)`` the output of layer ``l`` at the last prompt token
for audio ``x`` and text instruction ``t`` (:meth:`~rrs.models.base.LALM.layer_hidden`):

1. Refusal direction, asked for in text while the harmful audio stays the same::

       d_l = mean_n( h_l(x_h_n, t + refusal_prompt) - h_l(x_h_n, t) )

2. Safe subspace: the top-``k`` right singular vectors ``U_l`` (rows, ``(k, hidden)``) of the centred benign
   activations ``h_l(x_b, t)``. Ablation removes the part of ``d_l`` that lies in it::

       v_l = d_l - lam * U_l^T U_l d_l

3. While generating, ``alpha * v_l`` is added to the last position of layer ``l``'s output on every forward
   pass (:func:`steer`). With a KV cache that is the prompt's last token during the prefill (the inputs are
   left-padded, so position -1 is every row's last prompt token) and then each newly generated token (every
   decoding step has sequence length 1). Steered keys and values of earlier tokens stay in the cache, so the
   result equals a cache-free run that steers the prompt's last token and all generated tokens.

:func:`sweep` scores (alpha, layer set) settings by ASR / ORR with :func:`rrs.evaluation.metrics.evaluate`,
:func:`pick_default` picks the best net safety improvement, and :func:`first_token_refusal_prob` gives the
probability of a refusal opener as the first response token (the dashboard's alpha slider).

Importing this package loads no heavy package; torch, safetensors and tqdm are imported when used.

Modules: :mod:`~rrs.steering.config` (prompts and :class:`SteeringConfig`), :mod:`~rrs.steering.vectors`
(extraction, save/load), :mod:`~rrs.steering.hooks` (:func:`steer`), :mod:`~rrs.steering.sweep` (alpha and
layer choice) and :mod:`~rrs.steering.first_token` (the first-token refusal probability).
"""

from rrs.steering.config import (
    DEFAULT_REFUSAL_PROMPT,
    REFUSAL_PROMPT_VARIANTS,
    SteeringConfig,
    refusal_prompt_text,
    refused_prompt_inputs,
)
from rrs.steering.first_token import first_token_curve, first_token_refusal_prob
from rrs.steering.hooks import steer
from rrs.steering.sweep import pick_default, sweep
from rrs.steering.vectors import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    SteeringVectors,
    ablate,
    compute_vectors,
    safe_subspace,
)

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_REFUSAL_PROMPT",
    "REFUSAL_PROMPT_VARIANTS",
    "WEIGHTS_FILE",
    "SteeringConfig",
    "SteeringVectors",
    "ablate",
    "compute_vectors",
    "first_token_curve",
    "first_token_refusal_prob",
    "pick_default",
    "refusal_prompt_text",
    "refused_prompt_inputs",
    "safe_subspace",
    "steer",
    "sweep",
]

"""Steering: vectors, interventions at (layers, positions), and generation on encoded inputs.

Every function here runs through the model handle's traces, so it works locally, as the remote
dry run and on NDIF alike (see `models.remote`).
"""

from ..tokens import Encoded
from .generation import (DEFAULT_SWEEP_TOKEN_BUDGET, PREFIX_NOTE, can_share_prefix, decode_text, eos_ids,
                         generate, generate_ids, sweep_chunks, sweep_generate)
from .intervention import Intervention, PositionsArg, capture_with, forward_with, resolve, traced
from .vectors import (actadd_vectors, first_token_id, hidden_difference, unembedding_difference,
                      unembedding_rows)

__all__ = [
    "DEFAULT_SWEEP_TOKEN_BUDGET", "Encoded", "Intervention", "PREFIX_NOTE", "PositionsArg",
    "actadd_vectors", "can_share_prefix", "capture_with", "decode_text", "eos_ids",
    "first_token_id", "forward_with", "generate", "generate_ids", "hidden_difference", "resolve",
    "sweep_chunks", "sweep_generate", "traced", "unembedding_difference", "unembedding_rows",
]

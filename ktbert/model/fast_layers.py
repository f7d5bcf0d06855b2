"""Every switch of an encoder's layers to ktbert's faster forms, in one call (each module says
what its form saves and when it applies)."""

from __future__ import annotations

from ktbert.model.attention import use_fast_attention
from ktbert.model.dropout import use_fast_dropout
from ktbert.model.feedforward import use_fused_gelu
from ktbert.model.layer_norm import use_fusable_norms
from ktbert.model.projections import use_flat_projections


def use_fast_layers(backbone) -> dict:
    """Switches `backbone`'s layers in place (same weights, same config) and returns how many
    of each kind:
    - feed-forward GELU layers to `GeluDense` (fused matmul, bias and GELU when predicting,
      the approximate and exact GELUs compiled when training);
    - attention to `FastAttention` (batched products and an additive mask, training included);
    - other projections to `FlatEinsumDense` and `FlatDense` (2-D products when predicting,
      and the attention projections in training too);
    - layer norms to `FusableLayerNorm` (one oneDNN kernel in a frozen prediction step);
    - dropout to `FastDropout` (masks from 16 random bits per value when training).
    """
    return {"gelu": use_fused_gelu(backbone), "attention": use_fast_attention(backbone),
            "projections": use_flat_projections(backbone), "norms": use_fusable_norms(backbone),
            "dropout": use_fast_dropout(backbone)}

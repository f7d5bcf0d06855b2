"""`resume=` refuses a checkpoint of another run, naming what differs, before anything changes;
`checkpoint_every=` and `resume=` refuse arguments they cannot honour, with the fix."""

import os

import keras
import numpy as np
import pytest

import ktbert

RETRY = ("Resume with the model, data and fit arguments it was written with, or train without `resume=` to "
         "start afresh.")


@pytest.fixture(scope="module")
def checkpointed(toy_split, make_learner, tmp_path_factory):
    """A one-epoch one-cycle run (8 steps of 8 texts) checkpointed every 4 steps: its folder."""
    folder = str(tmp_path_factory.mktemp("checkpointed"))
    make_learner(toy_split, batch_size=8).fit_onecycle(5e-3, 1, verbose=0, checkpoint_folder=folder,
                                                       checkpoint_every=4)
    assert sorted(os.listdir(folder)) == ["checkpoints.json", "epoch-001.safetensors", "step-000000004",
                                          "step-000000008"]
    return folder


def refusal(learner, error, **fit):
    """The message `fit_onecycle` refuses with; the learner must be left untouched."""
    before = [np.array(w.numpy()) for w in learner.model.weights]
    with pytest.raises(error) as caught:
        learner.fit_onecycle(**{"lr": 5e-3, "epochs": 1, "verbose": 0, **fit})
    assert int(learner.model.optimizer.iterations.numpy()) == 0
    for a, b in zip(before, learner.model.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())
    return str(caught.value)


@pytest.mark.parametrize("change, differs", [
    ({"batch_size": 16}, "batch_size: 8 in the checkpoint, 16 now; steps_per_epoch: 8 in the checkpoint, 4 now"),
    ({"dropout": 0.3}, "model.dropout: 0.1 in the checkpoint, 0.3 now"),
    ({"lr": 1e-3}, "lr: 0.005 in the checkpoint, 0.001 now"),
    ({"epochs": 2}, "epochs: 1 in the checkpoint, 2 now"),
    ({"pct_start": 0.5}, "pct_start: 0.25 in the checkpoint, 0.5 now"),
], ids=["batch_size", "dropout", "lr", "epochs", "pct_start"])
def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(checkpointed, toy_split, change, differs):
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, dropout=change.get("dropout", 0.1))
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=change.get("batch_size", 8), seed=0)
    fit = {key: value for key, value in change.items() if key in ("lr", "epochs", "pct_start")}
    newest = os.path.join(checkpointed, "step-000000008")
    assert refusal(learner, ValueError, resume=checkpointed, **fit) == (
        f"`resume` {newest!r} was written by another run: {differs}. {RETRY}")


def test_a_checkpoint_of_other_data_is_refused(checkpointed, make_toy_split, make_learner):
    message = refusal(make_learner(make_toy_split(seed=2), batch_size=8), ValueError, resume=checkpointed)
    assert message.startswith(f"`resume` {os.path.join(checkpointed, 'step-000000008')!r} was written by another "
                              "run: training data: '64 examples, digest ")
    assert "; validation data: '32 examples, digest " in message and message.endswith(RETRY)


def test_checkpoint_every_needs_a_folder_and_a_positive_count(toy_split, make_learner):
    learner = make_learner(toy_split, batch_size=8)
    assert refusal(learner, ValueError, checkpoint_every=5) == (
        "`checkpoint_every` writes the training state into `checkpoint_folder`: pass that folder too. Received: "
        "checkpoint_every=5, checkpoint_folder=None")
    assert refusal(learner, ValueError, checkpoint_every=0, checkpoint_folder="unused") == (
        "`checkpoint_every` must be a positive integer. Received: checkpoint_every=0")


def test_resume_needs_a_folder_holding_a_checkpoint(toy_split, make_learner, tmp_path):
    learner = make_learner(toy_split, batch_size=8)
    assert refusal(learner, TypeError, resume=3) == "`resume` must be a folder path (str). Received: resume=3"
    missing = str(tmp_path / "missing")
    assert refusal(learner, FileNotFoundError, resume=missing) == (
        f"`resume` {missing!r} is not a folder: name the `checkpoint_folder` a run with `checkpoint_every=` "
        "wrote into.")
    assert refusal(learner, FileNotFoundError, resume=str(tmp_path)) == (
        f"`resume` {str(tmp_path)!r} holds no complete training checkpoint (a `step-NNNNNNNNN` folder written "
        "with `checkpoint_every=`). Train without `resume` to start afresh.")


def test_a_new_run_does_not_write_over_the_checkpoints_of_an_earlier_one(checkpointed, toy_split, make_learner):
    learner = make_learner(toy_split, batch_size=8)
    assert refusal(learner, FileExistsError, checkpoint_folder=checkpointed, checkpoint_every=4) == (
        f"`checkpoint_folder` {checkpointed!r} already holds training checkpoints of an earlier run "
        f"(step-000000008, step-000000004). Pass resume={checkpointed!r} to go on with that run, or choose "
        "another folder (or remove them) to start afresh.")


def test_array_data_cannot_be_checkpointed_mid_epoch(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = np.zeros((16, 4), "float32"), np.zeros(16, "int64")
    learner = ktbert.get_learner(model, train_data=(x, y), batch_size=8)
    assert refusal(learner, ValueError, checkpoint_folder=str(tmp_path), checkpoint_every=2) == (
        "`checkpoint_every` and `resume` need training texts tokenized by a ktbert loader: array data is shuffled "
        "inside tf.data, where the position in an epoch cannot be saved. Received: train_data of ndarray. Load "
        "the texts with `ktbert.texts_from_df` (or another ktbert loader).")

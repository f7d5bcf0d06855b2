"""A training run killed with SIGKILL and resumed from its checkpoints ends as the uninterrupted
run does: the same weights (within 1e-6 in float32; in practice bit for bit) and the same history.

A child process trains the tiny model with `checkpoint_every=3` (8 steps an epoch, dropout on)
and kills itself: between two checkpoints (after step 11: the newest checkpoint is step 9, one
step into the second epoch), or while a checkpoint is written (its state file written, the
folder not yet renamed into place: the run resumes from step 3). A new process resumes it. The
uninterrupted run is trained here, in the test's process.
"""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import build_learner, build_toy_split, child_env, kill_at_step, run_processes

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

HERE = os.path.dirname(os.path.abspath(__file__))
EVERY, EPOCHS, BATCH = 3, 2, 8  # 64 training rows: 8 steps an epoch, 16 in all

CHILD = """
import json, sys
sys.path[:0] = [{here!r}, {tests!r}]
from test_resume import train, outcome
encoder, kill_at, kill_writing, folders = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
for folder in folders:  # a resuming child resumes every folder it is given, one after the other
    learner = train(encoder, folder, resume=kill_at == 0 and kill_writing == 0, kill_at=kill_at,
                    kill_writing=kill_writing)
    print(json.dumps(outcome(learner, folder)))
"""


def kill_while_writing(count):
    """Makes the `count`-th checkpoint's write SIGKILL this process once its state file is
    written, before the checkpoint's manifest and the rename that publishes it."""
    from ktbert.saving import training_checkpoint

    write, calls = training_checkpoint.write_arrays, []

    def killing(path, values, names):
        write(path, values, names)
        calls.append(path)
        if len(calls) == count:
            os.kill(os.getpid(), signal.SIGKILL)

    training_checkpoint.write_arrays = killing


def train(encoder, folder, resume=False, kill_at=0, kill_writing=0):
    """The run under test: one-cycle over 2 epochs on the toy task, checkpoints every 3 steps."""
    if kill_writing:
        kill_while_writing(kill_writing)
    learner = build_learner(build_toy_split(encoder, seed=1), batch_size=BATCH)
    learner.fit_onecycle(5e-3, EPOCHS, verbose=0, checkpoint_folder=folder, checkpoint_every=EVERY,
                         resume=folder if resume else None, callbacks=[kill_at_step(kill_at)] if kill_at else None)
    return learner


def outcome(learner, folder=None):
    """The weights (saved to `folder/weights.npz` for the parent) and the history, as JSON."""
    weights = [np.array(w.numpy()) for w in learner.model.weights]
    if folder is not None:
        np.savez(os.path.join(folder, "weights.npz"), *weights)
    return {"history": json.loads(json.dumps(learner.history.history, default=float))}


def child(encoder, folders, kill_at=0, kill_writing=0) -> list:
    code = CHILD.format(here=HERE, tests=os.path.dirname(HERE))
    return [sys.executable, "-c", code, encoder, str(kill_at), str(kill_writing), *map(str, folders)]


def steps_in(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("step-"))


def test_a_run_killed_between_checkpoints_or_inside_one_resumes_to_the_uninterrupted_result(tiny_encoder, tmp_path):
    between, writing = tmp_path / "between", tmp_path / "writing"
    killed = [subprocess.Popen(argv, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for argv in (child(tiny_encoder, [between], kill_at=11), child(tiny_encoder, [writing], kill_writing=2))]
    learner = train(tiny_encoder, str(tmp_path / "uninterrupted"))  # while the children run
    weights, history = [np.array(w.numpy()) for w in learner.model.weights], outcome(learner)["history"]
    for proc in killed:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, err[-3000:]

    assert steps_in(between) == ["step-000000006", "step-000000009"]  # the newest two are kept
    assert steps_in(writing) == ["step-000000003"]  # step 6 was never published...
    [half] = [name for name in os.listdir(writing) if name.startswith(".ktbert-save-")]
    assert os.listdir(writing / half) == ["state.safetensors"]  # ...only its state file was written

    [out] = run_processes([(child(tiny_encoder, [between, writing]), child_env())], timeout=300)

    assert len(history["lr"]) == EPOCHS * 8 and len(history["loss"]) == EPOCHS
    for folder, line in zip((between, writing), out.strip().splitlines()[-2:]):
        resumed = np.load(folder / "weights.npz")
        assert len(resumed.files) == len(weights)
        for i, expected in enumerate(weights):
            np.testing.assert_allclose(resumed[f"arr_{i}"], expected, rtol=0, atol=1e-6)
        assert json.loads(line)["history"] == history
        assert steps_in(folder) == ["step-000000015", "step-000000016"]  # the last one written as the run ended
        assert [name for name in os.listdir(folder) if name.startswith(".ktbert-")] == []  # the half one swept


# -- in one process: a fit stopped by Ctrl-C at a chosen step, resumed by a new learner ---------------
class InterruptAt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt after the training step `step` (1-based), as Ctrl-C would."""

    def __init__(self, step):
        super().__init__()
        self.step, self.seen = step, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.step:
            raise KeyboardInterrupt


AUTOFIT = dict(epochs=8, early_stopping=3, reduce_on_plateau=1, verbose=0)  # stops after epoch 7 of 4 steps
LR = 0.2


@pytest.fixture(scope="module")
def autofit_run(toy_split, make_learner, tmp_path_factory):
    """The uninterrupted autofit run, checkpointed every 5 steps: its learner and its folder."""
    folder = str(tmp_path_factory.mktemp("autofit"))
    learner = make_learner(toy_split, batch_size=16)
    learner.autofit(LR, checkpoint_folder=folder, checkpoint_every=5, **AUTOFIT)
    return learner, folder


def assert_same_run(learner, expected):
    for a, b in zip(learner.model.weights, expected.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6)
    assert json.dumps(learner.history.history, default=float) == json.dumps(expected.history.history, default=float)


def test_autofit_resumed_after_an_epoch_keeps_its_early_stopping_and_reduced_peak(autofit_run, toy_split,
                                                                                  make_learner, tmp_path):
    expected, _ = autofit_run
    history = expected.history.history
    assert len(history["loss"]) == 7 and history["epoch_lr"][-1] < history["epoch_lr"][0]  # stopped, peak cut
    folder = str(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        make_learner(toy_split, batch_size=16).autofit(LR, checkpoint_folder=folder, checkpoint_every=5,
                                                        callbacks=[InterruptAt(22)], **AUTOFIT)
    assert steps_in(folder)[-1] == "step-000000020"  # written after epoch 5's validation and early stopping

    learner = make_learner(toy_split, batch_size=16)
    learner.autofit(LR, checkpoint_folder=folder, checkpoint_every=5, resume=folder, **AUTOFIT)

    assert_same_run(learner, expected)
    assert steps_in(folder) == ["step-000000025", "step-000000028"]


def test_a_finished_run_resumes_to_its_end_without_training(autofit_run, toy_split, make_learner):
    expected, folder = autofit_run
    learner = make_learner(toy_split, batch_size=16)
    learner.autofit(LR, resume=folder, **AUTOFIT)
    assert int(learner.model.optimizer.iterations.numpy()) == 28  # restored, not one step more
    assert_same_run(learner, expected)


def test_a_damaged_newest_checkpoint_is_passed_over_with_a_warning(autofit_run, toy_split, make_learner, tmp_path):
    """Resumed mid-epoch (step 10 of 28, early stopping and the plateau count under way)."""
    expected, _ = autofit_run
    folder = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        make_learner(toy_split, batch_size=16).autofit(LR, checkpoint_folder=str(folder), checkpoint_every=5,
                                                        callbacks=[InterruptAt(17)], **AUTOFIT)
    state = folder / "step-000000015" / "state.safetensors"
    state.write_bytes(state.read_bytes()[:-8] + b"damaged!")

    learner = make_learner(toy_split, batch_size=16)
    with pytest.warns(UserWarning, match=r"^`resume`: passed over step-000000015, which could not be read \(.*"
                                         r"state\.safetensors does not match the checksum .*\); resuming from "
                                         r"step-000000010\.$"):
        learner.autofit(LR, checkpoint_folder=str(folder), checkpoint_every=5, resume=str(folder), **AUTOFIT)
    assert_same_run(learner, expected)

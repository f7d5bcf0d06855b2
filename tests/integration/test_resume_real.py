"""Resuming with the real encoder: MiniLM fine-tuned on 192 SST-2 sentences, the process SIGKILLed
mid-epoch (after step 11 of 12, checkpoints every 5 steps) and resumed in a new one, ends with the
weights (within 1e-6 in float32) and the history of the uninterrupted run trained here."""

import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import ktbert
from helpers import child_env, default_encoder_or_skip, kill_at_step, run_processes, shared_path

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = """
import json, sys
sys.path[:0] = [{here!r}, {tests!r}]
from test_resume_real import train
learner = train(sys.argv[1], sys.argv[2], kill_at=int(sys.argv[3]), resume=sys.argv[3] == "0")
print(json.dumps(learner.history.history, default=float))
"""


def train(path, folder=None, kill_at=0, resume=False):
    """MiniLM, one one-cycle epoch over 192 sentences in batches of 16; checkpointed into `folder`
    (its weights saved there as `weights.npz` at the end), SIGKILLed after step `kill_at`."""
    frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE)
    trn, val, preproc = ktbert.texts_from_df(frame[:192], "sentence", "label", val_df=frame[192:256], maxlen=32,
                                             verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    checkpoints = {} if folder is None else {"checkpoint_folder": folder, "checkpoint_every": 5,
                                             "resume": folder if resume else None}
    learner.fit_onecycle(5e-5, 1, verbose=0, callbacks=[kill_at_step(kill_at)] if kill_at else None, **checkpoints)
    if folder is not None:
        np.savez(os.path.join(folder, "weights.npz"), *[w.numpy() for w in model.weights])
    return learner


def test_minilm_killed_mid_epoch_resumes_to_the_uninterrupted_weights_and_history(tmp_path):
    default_encoder_or_skip()
    path = shared_path("sst2", "train.tsv")
    code = CHILD.format(here=HERE, tests=os.path.dirname(HERE))
    folder = str(tmp_path / "checkpoints")
    killed = subprocess.Popen([sys.executable, "-c", code, path, folder, "11"], env=child_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    learner = train(path)  # uninterrupted and unchecked, while the child runs
    _, err = killed.communicate(timeout=600)
    assert killed.returncode == -signal.SIGKILL, err[-3000:]
    assert sorted(n for n in os.listdir(folder) if n.startswith("step-")) == ["step-000000005", "step-000000010"]

    [out] = run_processes([([sys.executable, "-c", code, path, folder, "0"], child_env())], timeout=600)

    resumed = np.load(os.path.join(folder, "weights.npz"))
    weights = [w.numpy() for w in learner.model.weights]
    assert len(resumed.files) == len(weights)
    for i, expected in enumerate(weights):
        np.testing.assert_allclose(resumed[f"arr_{i}"], expected, rtol=0, atol=1e-6)
    history = json.loads(json.dumps(learner.history.history, default=float))
    assert json.loads(out.strip().splitlines()[-1]) == history
    assert len(history["lr"]) == 12

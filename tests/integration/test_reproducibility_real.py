"""Reproducibility with the real encoder: two processes training MiniLM with the same seed on
the same SMS rows, side by side, end with identical weights and identical histories (oneDNN
kernels, dropout, length-bucketed shuffling and all)."""

import json
import os
import sys

import pytest

from helpers import default_encoder_or_skip, run_processes, shared_path

pytestmark = pytest.mark.integration

RUN = """
import hashlib, json
import ktbert
trn, val, preproc = ktbert.texts_from_csv({path!r}, "SMS", "Label", maxlen=48, val_pct=0.5, random_state=7,
                                          verbose=0, read_csv_kwargs={{"nrows": 192}})
model = ktbert.text_classifier("bert", trn, preproc, seed=7, verbose=0)
learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
history = learner.fit_onecycle(5e-5, 1, verbose=0).history
digest = hashlib.sha256(b"".join(w.numpy().tobytes() for w in model.weights)).hexdigest()
print(json.dumps({{"weights": digest, "history": history}}, default=float))
"""


def test_two_processes_with_one_seed_train_minilm_identically():
    default_encoder_or_skip()
    code = RUN.format(path=shared_path("sms", "SMSSpamCollection"))
    command = ([sys.executable, "-c", code], {**os.environ, "PYTHONHASHSEED": "random"})
    runs = [json.loads(out.strip().splitlines()[-1]) for out in run_processes([command] * 2, timeout=600)]
    assert len(runs[0]["history"]["lr"]) == 6  # 96 rows in batches of 16
    assert runs[0] == runs[1]

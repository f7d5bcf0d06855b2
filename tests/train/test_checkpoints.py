"""Per-epoch checkpoints: the files and index EpochCheckpoint writes, and the choice of the best."""

import json
import os
import re

import pytest


def test_checkpoints_and_best_epoch(learner, tmp_path):
    folder = str(tmp_path / "ckpt")
    learner.fit(3e-3, 3, checkpoint_folder=folder, verbose=0)
    with open(os.path.join(folder, "checkpoints.json")) as f:
        records = json.load(f)
    assert [r["epoch"] for r in records] == [1, 2, 3]
    assert {"val_loss", "val_accuracy", "val_macro_f1", "loss", "lr"} <= set(records[0]["logs"])
    for monitor, pick in (("val_loss", min), ("val_macro_f1", max), ("val_accuracy", max)):
        best = pick(records, key=lambda r: r["logs"][monitor])
        chosen = learner.load_best(folder, monitor=monitor)
        assert chosen["epoch"] == best["epoch"]
        if monitor == "val_loss":
            assert learner.evaluate()["loss"] == pytest.approx(best["logs"]["val_loss"], rel=1e-5)
    with pytest.raises(ValueError, match=re.escape("no checkpoint for epoch 9")):
        learner.load_checkpoint(folder, 9)


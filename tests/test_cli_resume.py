"""`ktbert train --checkpoint-every N` and `--resume DIR`: the flags reach the recipe's settings,
and a run interrupted after a checkpoint, run again with `--resume`, saves the predictor an
uninterrupted run saves."""

import numpy as np
import pytest

import ktbert
from helpers import sentiment_frame
from ktbert.cli import EXIT_INTERRUPTED, main
from ktbert.cli.parser import build_parser
from ktbert.train import step_checkpoints

TEXTS = ["the film was good", "the plot was awful and boring", "a wonderful movie", "hate"]


def settings_of(argv, monkeypatch):
    """The settings `ktbert train ARGV` hands the recipe (stopped there: nothing trains)."""
    from ktbert.cli import training

    captured = []

    def recipe(settings, *frames):
        captured.append(settings)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_classifier", recipe)
    monkeypatch.setattr(training, "read_frames", lambda args, settings: (None, None, None))
    with pytest.raises(KeyboardInterrupt):
        training.train(build_parser().parse_args(["train", "d.csv", "--output", "out", *argv]))
    return captured[0]


@pytest.mark.parametrize("argv, folder, every, resume", [
    (["--checkpoint-every", "50"], "out-checkpoints", 50, None),
    (["--checkpoint-every", "50", "--checkpoint-dir", "ckpt"], "ckpt", 50, None),
    (["--checkpoint-every", "50", "--resume", "ckpt"], "ckpt", 50, "ckpt"),
    (["--resume", "ckpt"], None, None, "ckpt"),
    ([], None, None, None),
])
def test_checkpoint_flags_become_the_recipe_settings(monkeypatch, argv, folder, every, resume):
    settings = settings_of(argv, monkeypatch)
    assert settings == ktbert.TrainingSettings("text", "label", output="out", checkpoint_folder=folder,
                                               checkpoint_every=every, resume=resume)


def test_a_run_interrupted_after_a_checkpoint_goes_on_with_resume(tiny_encoder, tmp_path, monkeypatch, capsys):
    sentiment_frame(64, seed=0).to_csv(tmp_path / "train.csv", index=False)
    argv = ["train", str(tmp_path / "train.csv"), "--encoder", tiny_encoder, "--maxlen", "16", "--epochs", "1",
            "--lr", "5e-3", "--batch-size", "16", "--quiet"]  # 57 training rows: 4 steps
    assert main(argv + ["--output", str(tmp_path / "uninterrupted")]) == 0

    write = step_checkpoints.StepCheckpoint.write

    def interrupted_after_step_2(self, step, finished=False):
        path = write(self, step, finished)
        if step == 2:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(step_checkpoints.StepCheckpoint, "write", interrupted_after_step_2)
    checkpointed = argv + ["--output", str(tmp_path / "resumed"), "--checkpoint-every", "2"]
    assert main(checkpointed) == EXIT_INTERRUPTED
    folder = str(tmp_path / "resumed-checkpoints")
    assert f"if the run is killed, run the same command with --resume {folder}" in capsys.readouterr().out
    monkeypatch.setattr(step_checkpoints.StepCheckpoint, "write", write)

    assert main(checkpointed + ["--resume", folder]) == 0

    expected = ktbert.load_predictor(str(tmp_path / "uninterrupted")).predict(TEXTS, return_proba=True)
    resumed = ktbert.load_predictor(str(tmp_path / "resumed")).predict(TEXTS, return_proba=True)
    np.testing.assert_allclose(resumed, expected, rtol=0, atol=1e-6)

"""Weight decay, freezing, checkpoints, early stopping and saving the learner's model."""

import json
import os
import re

import keras
import numpy as np
import pytest

import ktbert
from conftest import sentiment_frame


@pytest.fixture
def learner(tiny_encoder):
    df = sentiment_frame(64, seed=4)
    trn, val, preproc = ktbert.texts_from_df(df, "text", "label", val_df=sentiment_frame(24, seed=5),
                                             maxlen=16, encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    return ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16, seed=0)


def weights_by_path(model):
    return {v.path: np.array(v.numpy(), copy=True) for v in model.trainable_variables}


def decay_only_step(model, lr):
    """One optimizer step with all-zero gradients: Adam moves nothing, only decay acts."""
    opt = model.optimizer
    opt.learning_rate = lr
    opt.apply_gradients([(keras.ops.zeros_like(v), v) for v in model.trainable_variables])


@pytest.mark.parametrize("wd", [0.01, 0.3])
def test_weight_decay_skips_biases_layernorm_and_embeddings(learner, wd):
    learner.set_weight_decay(wd)
    assert learner.get_weight_decay() == pytest.approx(wd)
    before = weights_by_path(learner.model)
    decay_only_step(learner.model, 0.1)
    after = weights_by_path(learner.model)
    decayed, kept = [], []
    for path, old in before.items():
        name = path.split("/")[-1]
        if name in ("bias", "gamma", "beta", "embeddings"):
            np.testing.assert_array_equal(after[path], old)
            kept.append(path)
        else:
            np.testing.assert_allclose(after[path], old * (1 - 0.1 * wd), rtol=1e-6)
            decayed.append(path)
    assert any(p.endswith("token_embedding/embeddings") for p in kept)
    assert any("layer_norm" in p and p.endswith("gamma") for p in kept)
    assert "classifier/kernel" in decayed and "classifier/bias" in kept


def test_set_weight_decay_rejects_negative(learner):
    with pytest.raises(ValueError, match=re.escape("`wd` must be a number >= 0. Received: wd=-1")):
        learner.set_weight_decay(-1)


def trainable_paths(model):
    return {v.path for v in model.trainable_variables}


def test_freeze_trains_only_the_head_and_unfreeze_restores(learner):
    learner.freeze()
    assert trainable_paths(learner.model) == {"classifier/kernel", "classifier/bias"}
    before = weights_by_path(learner.model)
    frozen_before = {v.path: v.numpy().copy() for v in learner.model.non_trainable_weights}
    assert any("token_embedding" in p for p in frozen_before)
    learner.fit(1e-2, 1, verbose=0)
    for v in learner.model.non_trainable_weights:
        np.testing.assert_array_equal(v.numpy(), frozen_before[v.path])
    assert not np.array_equal(learner.model.get_layer("classifier").kernel.numpy(), before["classifier/kernel"])
    learner.unfreeze()
    paths = trainable_paths(learner.model)
    assert any("token_embedding" in p for p in paths) and any("transformer_layer_0" in p for p in paths)
    assert not any("pooled_dense" in p for p in paths)  # unused under mean pooling


def test_freeze_bottom_blocks_and_unfreeze_top_layers(learner):
    learner.freeze(1)  # embeddings frozen, both transformer layers train
    paths = trainable_paths(learner.model)
    assert not any("embedding" in p for p in paths)
    assert any("transformer_layer_0" in p for p in paths) and any("transformer_layer_1" in p for p in paths)
    learner.unfreeze(1)  # only the top transformer layer and the head
    paths = trainable_paths(learner.model)
    assert not any("transformer_layer_0" in p for p in paths)
    assert any("transformer_layer_1" in p for p in paths) and "classifier/kernel" in paths
    learner.fit(1e-3, 1, verbose=0)  # recompiled: trains with the new set


def test_print_layers(learner, capsys):
    learner.freeze()
    rows = learner.print_layers()
    out = capsys.readouterr().out
    names = [r[0] for r in rows]
    assert "bert_backbone/token_embedding" in names and "classifier" in names
    assert dict((r[0], r[2]) for r in rows)["classifier"] is True
    assert dict((r[0], r[2]) for r in rows)["bert_backbone/transformer_layer_1"] is False
    assert "classifier" in out and "trainable=False" in out


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


def test_autofit_until_early_stopping_restores_the_best_epoch(learner):
    history = learner.autofit(3e-2, epochs=None, early_stopping=2, reduce_on_plateau=1, verbose=0)
    val_losses = history.history["val_loss"]
    assert 3 <= len(val_losses) < 1024
    assert learner.evaluate()["loss"] == pytest.approx(min(val_losses), rel=1e-5)


def test_autofit_needs_validation_data_when_open_ended(learner):
    bare = ktbert.get_learner(learner.model, train_data=learner.train_data)
    with pytest.raises(ValueError, match=re.escape(
        "autofit with epochs=None stops on the validation metric, but the learner has no validation "
        "data: pass `val_data` to get_learner."
    )):
        bare.autofit(1e-3)


def test_save_model_and_load_model(learner, tmp_path):
    folder = str(tmp_path / "model")
    learner.save_model(folder)
    saved = [v.numpy().copy() for v in learner.model.weights]
    learner.fit(1e-2, 1, verbose=0)
    learner.load_model(folder)
    for v, w in zip(learner.model.weights, saved):
        np.testing.assert_array_equal(v.numpy(), w)
    with pytest.raises(ktbert.SaveFormatError, match="is not a ktbert model save: its ktbert.json says format='ktbert-predictor'"):
        predictor_folder = str(tmp_path / "predictor")
        ktbert.get_predictor(learner.model, _preproc_of(learner)).save(predictor_folder)
        learner.load_model(predictor_folder)


def _preproc_of(learner):
    from conftest import TINY_VOCAB

    return ktbert.TextPreprocessor(TINY_VOCAB, maxlen=16, class_names=["neg", "pos"])


def test_plots_of_the_last_fit(learner, tmp_path):
    learner.fit_onecycle(1e-3, 2, verbose=0)
    fig = learner.plot("lr")
    assert fig.axes[0].get_xlabel() == "step" and fig.axes[0].get_ylabel() == "learning rate"
    assert len(fig.axes[0].lines[0].get_xdata()) == 8
    fig = learner.plot("momentum", save_path=str(tmp_path / "m.png"))
    assert fig.axes[0].get_ylabel() == "momentum (beta_1)" and (tmp_path / "m.png").exists()
    fig = learner.plot("loss")
    assert [line.get_label() for line in fig.axes[0].lines] == ["loss", "validation loss"]
    with pytest.raises(ValueError, match=re.escape("`plot_type` must be 'loss', 'lr' or 'momentum'. Received: plot_type='acc'")):
        learner.plot("acc")

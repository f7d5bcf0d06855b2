"""float32 by default; mixed_bfloat16 or mixed_float16 on request (or "auto": mixed_float16 on
GPUs, mixed_bfloat16 on CPUs with bf16 instructions)."""

import re

import keras
import numpy as np
import pytest

import ktbert
from ktbert.model.precision import cpu_has_bf16, loading_policy, resolve_precision


def cpuinfo(tmp_path, flags):
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {flags}\n\n")
    return str(path)


@pytest.fixture
def no_gpu(monkeypatch):
    import ktbert.model.precision as precision

    monkeypatch.setattr(precision, "gpu_visible", lambda: False)


def test_auto_picks_bfloat16_only_where_the_cpu_has_bf16_instructions(tmp_path, no_gpu):
    assert cpu_has_bf16(cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert cpu_has_bf16(cpuinfo(tmp_path, "amx_bf16 amx_tile"))
    assert not cpu_has_bf16(cpuinfo(tmp_path, "avx512f"))
    assert not cpu_has_bf16(str(tmp_path / "missing"))
    assert resolve_precision("auto", cpuinfo(tmp_path, "avx512_bf16")) == "mixed_bfloat16"
    assert resolve_precision("auto", cpuinfo(tmp_path, "fma")) == "float32"
    assert resolve_precision("float32", cpuinfo(tmp_path, "avx512_bf16")) == "float32"


def test_the_default_is_auto_unless_the_environment_says_otherwise(tmp_path, monkeypatch, no_gpu):
    monkeypatch.delenv("KTBERT_PRECISION")
    assert resolve_precision(None, cpuinfo(tmp_path, "avx512_bf16")) == "mixed_bfloat16"
    assert resolve_precision(None, cpuinfo(tmp_path, "avx2")) == "float32"
    monkeypatch.setenv("KTBERT_PRECISION", "float32")
    assert resolve_precision(None, cpuinfo(tmp_path, "avx512_bf16")) == "float32"
    monkeypatch.setenv("KTBERT_PRECISION", "bf16")
    with pytest.raises(ValueError, match=re.escape(
        "`KTBERT_PRECISION` must be one of ['float32', 'mixed_bfloat16', 'mixed_float16', 'auto']. "
        "Received: KTBERT_PRECISION='bf16'. Set the environment variable KTBERT_PRECISION to one of them, or unset it"
    )):
        resolve_precision(None)


def test_a_saved_bfloat16_model_computes_in_float32_where_bfloat16_would_be_emulated(monkeypatch, no_gpu):
    import ktbert.model.precision as precision

    monkeypatch.delenv("KTBERT_PRECISION")
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda cpuinfo="": False)
    assert loading_policy("mixed_bfloat16") == "float32"
    assert loading_policy("float32") == "float32"
    assert loading_policy("float32", "mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda cpuinfo="": True)
    assert loading_policy("mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setenv("KTBERT_PRECISION", "float32")  # the environment's choice wins
    assert loading_policy("mixed_bfloat16") == "float32"


def test_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match=re.escape(
        "`precision` must be one of ['float32', 'mixed_bfloat16', 'mixed_float16', 'auto']. "
        "Received: precision='float16'"
    )):
        resolve_precision("float16")
    with pytest.raises(ValueError, match=re.escape("Received: precision='fp8'")):
        ktbert.TrainingSettings("text", "label", precision="fp8")


def test_float32_computes_in_float32(toy_split):
    trn, _, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, precision="float32")
    assert model.backbone.dtype_policy.name == "float32"


def test_mixed_bfloat16_keeps_float32_weights_and_head_and_survives_a_save(toy_split, tmp_path, monkeypatch, no_gpu):
    import ktbert.model.precision as precision

    monkeypatch.setattr(precision, "cpu_has_bf16", lambda cpuinfo="": True)  # reloads as saved
    monkeypatch.delenv("KTBERT_PRECISION")
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, precision="mixed_bfloat16")
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    assert model.backbone.compute_dtype == "bfloat16"
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    assert model.get_layer("classifier").compute_dtype == "float32"
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    learner.fit_onecycle(5e-3, 1, verbose=0)
    proba = learner.predict()
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predictor = ktbert.get_predictor(learner, preproc)
    predictor.save(str(tmp_path / "p"))
    loaded = ktbert.load_predictor(str(tmp_path / "p"))
    assert loaded.model.backbone.dtype_policy.name == "mixed_bfloat16"
    texts = val.x.texts
    proba = predictor.predict(texts, return_proba=True)
    np.testing.assert_array_equal(loaded.predict(texts, return_proba=True), proba)
    as_float32 = ktbert.load_predictor(str(tmp_path / "p"), precision="float32")
    assert as_float32.model.backbone.dtype_policy.name == "float32"
    np.testing.assert_allclose(as_float32.predict(texts, return_proba=True), proba, atol=0.05)
    with pytest.raises(ValueError, match=re.escape("Received: precision='half'")):
        ktbert.load_predictor(str(tmp_path / "p"), precision="half")


@pytest.fixture
def a_gpu(monkeypatch):
    import ktbert.model.precision as precision

    monkeypatch.setattr(precision, "gpu_visible", lambda: True)


def test_auto_picks_mixed_float16_where_a_gpu_is_visible(tmp_path, a_gpu):
    assert resolve_precision("auto", cpuinfo(tmp_path, "avx512_bf16")) == "mixed_float16"
    assert resolve_precision("auto", cpuinfo(tmp_path, "avx2")) == "mixed_float16"
    assert resolve_precision("mixed_float16") == "mixed_float16"
    assert resolve_precision("float32") == "float32"


def test_a_saved_mixed_precision_is_kept_or_becomes_float32_never_the_other_half_type(monkeypatch, no_gpu):
    import ktbert.model.precision as precision

    monkeypatch.delenv("KTBERT_PRECISION")
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda cpuinfo="": False)
    assert loading_policy("mixed_float16") == "float32"  # float16 without a GPU: emulated
    assert loading_policy("mixed_float16", "mixed_float16") == "mixed_float16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda cpuinfo="": True)
    assert loading_policy("mixed_float16") == "float32"  # not bfloat16: another half type
    monkeypatch.setattr(precision, "gpu_visible", lambda: True)
    assert loading_policy("mixed_float16") == "mixed_float16"
    assert loading_policy("mixed_bfloat16") == "float32"  # float16 could overflow a bfloat16 model
    assert loading_policy("float32") == "float32"


def test_mixed_float16_scales_the_loss_keeps_float32_weights_and_head_and_trains(toy_split):
    from helpers import read_learning_rate

    from ktbert.train.hyperparameters import base_optimizer
    from ktbert.train.schedules import one_cycle_momentum, one_cycle_schedule

    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0, precision="mixed_float16")
    assert model.backbone.dtype_policy.name == "mixed_float16"
    assert model.backbone.compute_dtype == "float16"
    assert {v.dtype for v in model.trainable_variables} == {"float32"}
    assert model.get_layer("classifier").compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(base_optimizer(model.optimizer), keras.optimizers.AdamW)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    learner.set_weight_decay(0.01)
    assert learner.get_weight_decay() == pytest.approx(0.01)
    history = learner.fit_onecycle(5e-3, 1, verbose=0)
    assert np.isfinite(history.history["loss"]).all() and np.isfinite(history.history["val_loss"]).all()
    assert history.history["lr"] == [one_cycle_schedule(5e-3, 4)(i) for i in range(4)]
    assert history.history["momentum"] == [one_cycle_momentum(4, 0.25, (0.95, 0.85, 0.95))(i) for i in range(4)]
    assert float(base_optimizer(model.optimizer).beta_1.numpy()) == pytest.approx(history.history["momentum"][-1])
    assert read_learning_rate(model.optimizer) == pytest.approx(history.history["lr"][-1])
    # A step whose scaled gradients overflow is skipped and halves the scale: every step is one or the other.
    skipped = np.log2(model.optimizer.initial_scale / float(model.optimizer.dynamic_scale.numpy()))
    assert int(model.optimizer.iterations.numpy()) + skipped == 4
    proba = learner.predict()
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    learner.freeze()  # a fresh optimizer: scaled again, with the same settings
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert learner.get_weight_decay() == pytest.approx(0.01)

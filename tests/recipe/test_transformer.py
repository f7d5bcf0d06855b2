"""ktrain's `text.Transformer` and `preproc.preprocess_test`: a ktrain tutorial's calls, unchanged."""

import re

import numpy as np
import pytest

import ktbert
from encoder_families import make_family_encoder
from helpers import sentiment_frame


@pytest.fixture(scope="module")
def distilbert_folder(tmp_path_factory):
    """ktrain's most common `Transformer("distilbert-base-uncased")`, as a tiny random model (RoBERTa's
    BPE goes the same way in tests/model/test_families.py)."""
    return make_family_encoder("distil_bert", tmp_path_factory.mktemp("distilbert") / "encoder")


@pytest.fixture(scope="module")
def frame():
    df = sentiment_frame(32)
    df["y"] = (df.label == "pos").astype(int)
    return df


def test_the_ktrain_calls_train_validate_and_predict(distilbert_folder, frame, capsys):
    t = ktbert.text.Transformer(distilbert_folder, maxlen=24, class_names=["neg", "pos"])
    trn = t.preprocess_train(frame.text.tolist(), frame.y.tolist())
    assert capsys.readouterr().out == "32 training texts, 2 classes: ['neg', 'pos']\n"
    val = t.preprocess_test(frame.text.tolist()[:8], frame.y.tolist()[:8])
    assert t.get_classes() == ["neg", "pos"] and t.get_preprocessor().family == "distil_bert"
    assert val.y.tolist() == frame.y.tolist()[:8]
    assert val.x[0].tolist() == t.get_preprocessor().preprocess([frame.text[0]])[0].tolist()
    learner = ktbert.get_learner(t.get_classifier(), train_data=trn, val_data=val, batch_size=8)
    learner.fit_onecycle(1e-3, 1, verbose=0)
    matrix = learner.validate(val_data=val, print_report=False)
    assert matrix.sum() == 8
    predictor = ktbert.get_predictor(learner.model, preproc=t)
    np.testing.assert_allclose(predictor.predict(frame.text.tolist()[:8], return_proba=True),
                               learner.predict(val), rtol=0, atol=1e-6)


def test_preprocess_test_uses_the_training_classes_and_refuses_others(tiny_encoder, frame):
    trn, _, preproc = ktbert.texts_from_df(frame, "text", "label", val_df=frame, maxlen=16,
                                           encoder=tiny_encoder, verbose=0)
    test = preproc.preprocess_test(["a good film", "bad"], ["pos", "neg"])
    assert test.y.tolist() == [preproc.get_classes().index("pos"), preproc.get_classes().index("neg")]
    assert test.x.texts == ["a good film", "bad"]
    with pytest.raises(ValueError, match=re.escape("'meh'")):
        preproc.preprocess_test(["a good film"], ["meh"])
    with pytest.raises(ValueError, match=re.escape(
            "`x_test` and `y_test` differ in length: 2 texts, 1 labels.")):
        preproc.preprocess_test(["a", "b"], ["pos"])
    with pytest.raises(ValueError, match=re.escape(
            "`y_test` holds integers outside 0..1, the positions of `class_names` ['neg', 'pos'].")):
        preproc.preprocess_test(["a", "b"], [0, 2])


def test_an_unknown_model_name_says_how_to_bring_the_folder(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # fail at once, no retries
    with pytest.raises(ValueError) as caught:
        ktbert.text.Transformer("roberta-base")
    message = str(caught.value)
    assert message.startswith("`encoder` 'hf://roberta-base' is not a folder, so it was taken for a keras-hub "
                              "preset, which keras-hub downloads (from Kaggle or Hugging Face: this needs a network)")
    assert "hf download <id> --local-dir <folder>" in message and "docs/encoders.md" in message


def test_a_transformer_must_be_trained_before_its_classifier(distilbert_folder):
    t = ktbert.text.Transformer(distilbert_folder)
    with pytest.raises(RuntimeError, match=re.escape("Call `preprocess_train(texts, labels)` first")):
        t.get_classifier()

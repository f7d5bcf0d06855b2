import re

import pytest

import ktbert
from helpers import sentiment_frame


def test_text_classifier_heads(toy_split, tiny_encoder):
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, verbose=0)
    assert model.get_layer("classifier").activation.__name__ == "softmax"
    assert model.get_layer("classifier").units == 2
    df = sentiment_frame(16).assign(film=1)
    df["pos"] = (df.label == "pos").astype(int)
    df["neg"] = 1 - df["pos"]
    mtrn, _, mpre = ktbert.texts_from_df(df, "text", ["neg", "pos", "film"], val_df=df, maxlen=16,
                                         encoder=tiny_encoder, verbose=0)
    multi = ktbert.text_classifier("bert", mtrn, mpre, verbose=0)
    assert multi.get_layer("classifier").activation.__name__ == "sigmoid"
    assert multi.get_layer("classifier").units == 3
    with pytest.raises(ValueError, match=re.escape("`name` must be one of ['bert', 'distilbert']. Received: name='nbsvm'. To use another "
                                                   "encoder, pass `encoder=` (a keras-hub preset folder or a Hugging "
                                                   "Face checkpoint folder) to the data loader")):
        ktbert.text_classifier("nbsvm", trn, preproc)


def test_classifier_config_round_trip(toy_split):
    trn, val, preproc = toy_split
    model = ktbert.text_classifier("bert", trn, preproc, pooling="cls", dropout=0.2, verbose=0)
    config = model.get_config()
    clone = ktbert.TextClassifier.from_config(config)
    assert clone.get_config() == config

"""predictor.embed and `ktbert embed`: the fine-tuned encoder's pooled vectors, one row per text in
the input order, whatever the batching."""

import json

import numpy as np
import pytest

import ktbert
from helpers import default_encoder_or_skip, shared_path
from ktbert.cli import main

TEXTS = ["the film was good", "bad", "", "the acting was awful and the plot was poor " * 3, "great film", "hate it"]


@pytest.fixture(scope="module")
def trained(make_toy_split, make_learner):
    split = make_toy_split(seed=3)
    learner = make_learner(split, batch_size=8)
    learner.fit_onecycle(5e-3, 2, verbose=0)
    return ktbert.get_predictor(learner, split[2])


def one_by_one(predictor, texts) -> np.ndarray:
    """Each text's vector computed alone, by hand: masked mean of the backbone's token vectors."""
    import tensorflow as tf

    rows = []
    for text in texts:
        ids = predictor.preproc.pipeline.inputs(tf.constant([text]))
        ids["segment_ids"] = tf.zeros_like(ids["token_ids"])  # single texts: all segment 0
        sequence = predictor.model.backbone(ids)["sequence_output"]
        mask = np.asarray(ids["padding_mask"], dtype=np.float32)[..., None]
        rows.append((np.asarray(sequence) * mask).sum(axis=1)[0] / mask.sum())
    return np.stack(rows)


def test_embed_returns_the_pooled_vectors_in_the_input_order(trained):
    vectors = trained.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 16) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, one_by_one(trained, TEXTS), atol=1e-5, rtol=0)
    unbucketed = ktbert.get_predictor(trained.model, trained.preproc, batch_size=2, bucketing=False)
    np.testing.assert_allclose(vectors, unbucketed.embed(TEXTS), atol=1e-5, rtol=0)
    np.testing.assert_allclose(trained.embed(TEXTS[1]), vectors[1], atol=1e-5, rtol=0)  # one string, one vector


def test_the_head_reads_the_embedding(trained):
    """The vector is what the classifier's head turns into probabilities."""
    kernel, bias = (np.asarray(w) for w in trained.model.get_layer("classifier").weights)
    logits = trained.embed(TEXTS) @ kernel + bias
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, trained.predict(TEXTS, return_proba=True), atol=1e-5, rtol=0)


def test_windows_average_the_vectors_of_a_texts_windows(trained):
    from ktbert.data.prediction import predict_in_order
    from ktbert.serve.embeddings import pooled_model

    windows = ktbert.get_predictor(trained.model, trained.preproc, long_texts="windows", window_stride=7)
    long_text = "the film was good but the plot was poor and the acting awful " * 4
    pieces, owners = trained.preproc.windows([long_text], stride=7)
    assert len(owners) > 1
    window_vectors = np.asarray(predict_in_order(pooled_model(trained.model), pieces), dtype=np.float32)
    vectors = windows.embed([long_text, "good"])
    np.testing.assert_allclose(vectors[0], window_vectors.mean(axis=0), atol=1e-6, rtol=0)
    np.testing.assert_allclose(vectors[1], trained.embed("good"), atol=1e-6, rtol=0)


def test_ktbert_embed_writes_npy_and_jsonl_rows_in_order(trained, tmp_path, capsys):
    trained.save(str(tmp_path / "model"))
    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    expected = trained.embed(TEXTS)
    args = ["embed", str(tmp_path / "model"), str(tmp_path / "texts.txt"), "--chunk-size", "4"]
    assert main(args + ["--output", str(tmp_path / "v.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "v.npy"), expected, atol=1e-6, rtol=0)
    assert main(args + ["--output", str(tmp_path / "v.jsonl")]) == 0
    lines = (tmp_path / "v.jsonl").read_text(encoding="utf-8").splitlines()
    np.testing.assert_allclose([json.loads(line)["embedding"] for line in lines], expected, atol=1e-6, rtol=0)
    capsys.readouterr()
    assert main(args + ["--format", "npy"]) == 2
    assert ("`--format npy` writes a binary file: name it with --output FILE.npy (or write text with "
            "--format jsonl).") in capsys.readouterr().err


def test_embed_on_sst2_dev_equals_the_unbucketed_embedding():
    """The acceptance check: the default encoder, the 872 SST-2 dev sentences, float32."""
    import csv

    import pandas as pd

    default_encoder_or_skip()
    texts = pd.read_csv(shared_path("sst2", "dev.tsv"), sep="\t", quoting=csv.QUOTE_NONE).sentence.tolist()
    trn, _, preproc = ktbert.texts_from_array(texts[:8], ["a", "b"] * 4, x_test=texts[:8], y_test=["a", "b"] * 4,
                                              maxlen=128, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    bucketed = ktbert.get_predictor(model, preproc, batch_size=32).embed(texts)
    unbucketed = ktbert.get_predictor(model, preproc, batch_size=32, bucketing=False).embed(texts)
    assert bucketed.shape == (872, 384)
    np.testing.assert_allclose(bucketed, unbucketed, atol=1e-5, rtol=0)

"""A model of text pairs the whole way: trained by `ktbert train --text-column A B`, predicted by
the predictor, the command line, the SavedModel's `serving_pairs` and the service, all equal."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys

import httpx
import numpy as np
import pandas as pd
import pytest

import ktbert
from helpers import EXPORT_LOADER_START, SERVICE_TOLERANCE, running, sentiment_frame
from ktbert.cli import main

PAIRS = [("the film was good", "a wonderful movie"), ("the plot was awful", "great acting"),
         ("café, great acting!", ""), ("hate", "hate it " * 40)]

# Loads the export where ktbert cannot be imported and calls both its signatures.
LOADER = EXPORT_LOADER_START + """
folder, pairs = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
model = tf.saved_model.load(folder)
a, b = tf.constant([p[0] for p in pairs]), tf.constant([p[1] for p in pairs])
out = {name: model.signatures[name](text_a=a, text_b=b)["probabilities"].numpy().tolist()
       for name in ("serving_pairs", "serving_default")}
out["signatures"] = sorted(model.signatures)
json.dump(out, open(sys.argv[3], "w", encoding="utf-8"))
"""


def pair_frame(n, seed):
    first = sentiment_frame(n, seed=seed)
    second = first.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    same = np.where(first.label == second.label, "same", "different")
    return pd.DataFrame({"question": first.text, "answer": second.text, "label": same})


@pytest.fixture(scope="module")
def pair_model(tmp_path_factory, tiny_encoder):
    folder = tmp_path_factory.mktemp("pairs")
    pair_frame(48, 0).to_csv(folder / "train.csv", index=False)
    pair_frame(12, 5).to_csv(folder / "test.csv", index=False)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", str(folder / "train.csv"), "--text-column", "question", "answer", "--label-column",
                     "label", "--encoder", tiny_encoder, "--maxlen", "24", "--epochs", "1", "--lr", "5e-3",
                     "--batch-size", "16", "--quiet", "--output", str(folder / "model")])
    assert code == 0, out.getvalue()
    return folder, ktbert.load_predictor(str(folder / "model"))


def test_the_saved_pair_model_predicts_pairs(pair_model):
    _, predictor = pair_model
    assert predictor.preproc.pairs and predictor.model.segments
    proba = predictor.predict(PAIRS, return_proba=True)
    assert proba.shape == (4, 2)
    np.testing.assert_allclose(predictor.predict(PAIRS[0], return_proba=True), proba[0], rtol=0, atol=1e-6)
    assert predictor.predict(PAIRS[1]) == predictor.predict(PAIRS)[1]
    # the second text counts: swapping which text comes first changes the probabilities
    swapped = predictor.predict([(b, a) for a, b in PAIRS], return_proba=True)
    assert not np.allclose(swapped, proba, atol=1e-6)


def test_the_export_serves_pairs_in_its_two_signatures(pair_model, tmp_path):
    _, predictor = pair_model
    folder = predictor.export(str(tmp_path / "export"))
    (tmp_path / "pairs.json").write_text(json.dumps(PAIRS), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", LOADER, str(folder), str(tmp_path / "pairs.json"),
                           str(tmp_path / "out.json")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    expected = predictor.predict(PAIRS, return_proba=True)
    assert out["signatures"] == ["serving_default", "serving_pairs"]
    np.testing.assert_allclose(out["serving_pairs"], expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["serving_default"], expected, rtol=0, atol=1e-5)


def test_the_service_takes_pairs_and_refuses_texts(pair_model):
    from ktbert.serve.service import create_app

    _, predictor = pair_model
    with running(create_app(predictor, max_wait_ms=1.0)) as url:
        answer = httpx.post(f"{url}/predict", json={"pairs": [list(p) for p in PAIRS]}, timeout=60)
        texts = httpx.post(f"{url}/predict", json={"texts": ["a"]}, timeout=60)
        triple = httpx.post(f"{url}/predict", json={"pairs": [["a", "b", "c"]]}, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["labels"] == predictor.predict(PAIRS)
    np.testing.assert_allclose(answer.json()["probabilities"], predictor.predict(PAIRS, return_proba=True),
                               rtol=0, atol=SERVICE_TOLERANCE)
    assert texts.status_code == 422 and texts.json()["detail"] == (
        'this model classifies pairs of texts: send `pairs`, like {"pairs": [["is it open on sunday?", '
        '"we open every day"]]}.')
    assert triple.status_code == 422 and triple.json()["detail"].startswith(
        "`pairs` must hold [text_a, text_b] pairs of two strings; position 0 holds")


def test_the_command_line_predicts_and_evaluates_pairs(pair_model, tmp_path, capsys):
    folder, predictor = pair_model
    source = tmp_path / "pairs.csv"
    pd.DataFrame({"q": [a for a, _ in PAIRS], "a": [b for _, b in PAIRS]}).to_csv(source, index=False)
    code = main(["predict", str(folder / "model"), str(source), "--text-column", "q", "a", "--proba"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["label", "different", "same"]
    assert [r[0] for r in rows[1:]] == predictor.predict(PAIRS)
    np.testing.assert_allclose(np.array([r[1:] for r in rows[1:]], dtype=float),
                               predictor.predict(PAIRS, return_proba=True), rtol=0, atol=1e-5)
    code = main(["evaluate", str(folder / "model"), str(folder / "test.csv"), "--text-column", "question",
                 "answer", "--label-column", "label"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "accuracy" in out and "different" in out
    code = main(["predict", str(folder / "model"), str(source), "--text-column", "q", "a", "b"])
    assert code == 2 and "--text-column: one column, or two for text pairs" in capsys.readouterr().err


def test_explain_says_it_covers_single_texts(pair_model):
    _, predictor = pair_model
    with pytest.raises(ValueError, match=r"^`explain` scores the words of one text; this model classifies pairs"):
        predictor.explain(PAIRS[0])

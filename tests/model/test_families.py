"""Every keras-hub encoder family the whole way: loader -> one training step -> save -> load in a
fresh process -> export -> the service.

Each family's tiny random encoder (`tests/encoder_families.py`) is fine-tuned for one step in this
process; all saves and exports are then read back by one fresh interpreter, and each save is served
by the FastAPI app `ktbert serve` runs.
"""

import json
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest

import ktbert
from encoder_families import FAMILY_NAMES, make_family_encoder
from helpers import SERVICE_TOLERANCE, child_env, running, sentiment_frame
from hf_folders import HF_FAMILIES, write_hf_folder

TEXTS = ["the film was good", "bad plot and awful acting", "Café 😀 great", "", "good " * 60]

# Reads every save with ktbert and every export with TensorFlow alone, in one interpreter.
RELOAD = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401
import ktbert
runs, texts = json.load(open(sys.argv[1], encoding="utf-8")), json.load(open(sys.argv[2], encoding="utf-8"))
out = {}
for name, run in runs.items():
    predictor = ktbert.load_predictor(run["save"])
    served = tf.saved_model.load(run["export"]).signatures["serving_default"](texts=tf.constant(texts))
    out[name] = {"family": predictor.preproc.family,
                 "saved": predictor.predict(texts, return_proba=True).tolist(),
                 "exported": served["probabilities"].numpy().tolist()}
json.dump(out, open(sys.argv[3], "w", encoding="utf-8"))
"""


def sources():
    """(run name, family, source): each family's keras-hub preset folder, and a Hugging Face
    checkpoint folder of each family keras-hub converts. BERT's preset folder is left out here:
    the tiny BERT preset of the rest of the suite goes the same path (tests/serve/test_predictor.py
    reloads it in a fresh process, test_export.py exports it, test_service.py serves it)."""
    return ([(f"{family}-preset", family, "preset") for family in FAMILY_NAMES if family != "bert"]
            + [(f"{family}-hf", family, "hf") for family in HF_FAMILIES])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each family fine-tuned for one step and saved and exported: name -> (predictor, folders)."""
    root = tmp_path_factory.mktemp("families")
    df = sentiment_frame(8)
    done = {}
    for name, family, source in sources():
        write = make_family_encoder if source == "preset" else write_hf_folder
        encoder = write(family, root / name / "encoder")
        trn, _, preproc = ktbert.texts_from_df(df, "text", "label", val_df=df.head(2), maxlen=16,
                                               encoder=encoder, verbose=0)
        model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
        learner = ktbert.get_learner(model, train_data=trn, batch_size=8)  # one step, no validation pass
        before = [w.copy() for w in model.get_weights()]
        learner.fit(1e-3, 1, verbose=0)
        predictor = ktbert.get_predictor(learner.model, preproc)
        save, export = root / name / "save", root / name / "export"
        predictor.save(str(save))
        predictor.export(str(export))
        done[name] = dict(family=family, predictor=predictor, save=str(save), export=str(export),
                          steps=int(learner.model.optimizer.iterations.numpy()),
                          moved=any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights())))
    return done


@pytest.fixture(scope="module")
def reloaded(runs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reload")
    (folder / "runs.json").write_text(json.dumps({n: {"save": r["save"], "export": r["export"]}
                                                  for n, r in runs.items()}), encoding="utf-8")
    (folder / "texts.json").write_text(json.dumps(TEXTS), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", RELOAD, str(folder / "runs.json"), str(folder / "texts.json"),
                           str(folder / "out.json")], capture_output=True, text=True, timeout=600,
                          env={**child_env(), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "out.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", [name for name, _, _ in sources()])
def test_each_family_trains_saves_reloads_exports_and_serves_the_same_probabilities(name, runs, reloaded):
    run = runs[name]
    assert run["predictor"].preproc.family == run["family"]
    assert run["steps"] == 1 and run["moved"], "one training step must change the weights"
    expected = run["predictor"].predict(TEXTS, return_proba=True)
    assert reloaded[name]["family"] == run["family"]
    np.testing.assert_allclose(reloaded[name]["saved"], expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(reloaded[name]["exported"], expected, rtol=0, atol=1e-5)
    from ktbert.serve.service import create_app

    with running(create_app(run["predictor"], max_wait_ms=1.0)) as url:
        response = httpx.post(f"{url}/predict", json={"texts": TEXTS, "return_proba": True}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"] == run["predictor"].predict(TEXTS)
    np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=SERVICE_TOLERANCE)


def test_the_families_tokenize_differently(runs):
    """Each family's own tokenizer and packing run, not BERT's: the packed ids of one text differ."""
    packed = {run["family"]: tuple(run["predictor"].preproc.preprocess(["the film was good"])[0].tolist())
              for run in runs.values()}
    assert packed["roberta"][0] == 0 and packed["roberta"][-1] == 2  # <s> ... </s>
    assert packed["bert"][0] == 2 and packed["bert"][-1] == 3  # [CLS] ... [SEP] of the tiny vocabulary
    assert len({packed[f] for f in ("bert", "roberta", "xlm_roberta", "albert")}) == 4

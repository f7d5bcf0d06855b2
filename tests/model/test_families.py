"""Every keras-hub encoder family the whole way: loader -> one training step -> save -> load in a
fresh process -> export -> the service.

Two child processes (`tests/family_runs.py`) fine-tune each family's tiny random encoder
(`tests/encoder_families.py`) for one step, save it and export it, half the families each, side
by side: tracing, most of their time, takes one core. This process, fresh to every save, loads
each save with ktbert and each export with TensorFlow, and serves each save with the FastAPI app
`ktbert serve` runs.
"""

import json
import subprocess
import sys

import httpx
import numpy as np
import pytest

import ktbert
from encoder_families import FAMILY_NAMES
from family_runs import TEXTS
from helpers import PROJECT, SERVICE_TOLERANCE, child_env, running
from hf_folders import HF_FAMILIES

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

TESTS = str(__import__("pathlib").Path(__file__).resolve().parents[1])


def sources():
    """(run name, family, source): each family's keras-hub preset folder, and a Hugging Face
    checkpoint folder of each family keras-hub converts. BERT's preset folder is left out here:
    the tiny BERT preset of the rest of the suite goes the same path (tests/serve/test_predictor.py
    reloads it in a fresh process, test_export.py exports it, test_service.py serves it)."""
    return ([(f"{family}-preset", family, "preset") for family in FAMILY_NAMES if family != "bert"]
            + [(f"{family}-hf", family, "hf") for family in HF_FAMILIES])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each family fine-tuned for one step, saved and exported in a child process: name -> what
    `family_runs.train_save_export` reports."""
    root = tmp_path_factory.mktemp("families")
    plan = [[name, family, source, str(root / name)] for name, family, source in sources()]
    env = {**child_env(), "PYTHONPATH": f"{PROJECT}:{TESTS}", "TF_CPP_MIN_LOG_LEVEL": "2"}
    children = []
    for half in (plan[0::2], plan[1::2]):
        runs_file, out_file = root / f"runs{len(children)}.json", root / f"out{len(children)}.json"
        runs_file.write_text(json.dumps(half), encoding="utf-8")
        children.append((subprocess.Popen([sys.executable, f"{TESTS}/family_runs.py", str(runs_file), str(out_file)],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env),
                         out_file))
    done = {}
    for child, out_file in children:
        _, stderr = child.communicate(timeout=900)
        assert child.returncode == 0, stderr[-3000:]
        done.update(json.loads(out_file.read_text(encoding="utf-8")))
    return done


@pytest.fixture(scope="module")
def loaded(runs):
    """name -> the save loaded in this process (loaded once: a BPE tokenizer takes seconds)."""
    cache = {}

    def load(name):
        if name not in cache:
            cache[name] = ktbert.load_predictor(runs[name]["save"])
        return cache[name]
    return load


@pytest.mark.parametrize("name", [name for name, _, _ in sources()])
def test_each_family_trains_saves_reloads_exports_and_serves_the_same_probabilities(name, runs, loaded):
    import tensorflow as tf

    run = runs[name]
    assert run["trained_family"] == run["family"]
    assert run["steps"] == 1 and run["moved"], "one training step must change the weights"
    expected = np.array(run["probabilities"])
    predictor = loaded(name)  # in this process, fresh to the save
    assert predictor.preproc.family == run["family"]
    np.testing.assert_allclose(predictor.predict(TEXTS, return_proba=True), expected, rtol=0, atol=1e-6)
    served = tf.saved_model.load(run["export"]).signatures["serving_default"](texts=tf.constant(TEXTS))
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, rtol=0, atol=1e-5)
    from ktbert.serve.service import create_app

    with running(create_app(predictor, max_wait_ms=1.0)) as url:
        response = httpx.post(f"{url}/predict", json={"texts": TEXTS, "return_proba": True}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["labels"] == predictor.predict(TEXTS)
    np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=SERVICE_TOLERANCE)


def test_the_families_tokenize_differently(runs, loaded):
    """Each family's own tokenizer and packing run, not BERT's: the packed ids of one text differ."""
    packed = {run["family"]: tuple(loaded(name).preproc.preprocess(["the film was good"])[0].tolist())
              for name, run in runs.items() if name.endswith("-hf")}
    assert packed["roberta"][0] == 0 and packed["roberta"][-1] == 2  # <s> ... </s>
    assert packed["bert"][0] == 2 and packed["bert"][-1] == 3  # [CLS] ... [SEP] of the tiny vocabulary
    assert len({packed[f] for f in ("bert", "roberta", "xlm_roberta", "albert")}) == 4

"""predictor.export: a SavedModel that serves raw strings, loaded where ktbert cannot be imported."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import ktbert
from ktbert.saving import manifest as saving
from helpers import EXPORT_LOADER_START, sentiment_frame

pytestmark = pytest.mark.slow  # a minute or more: run before the short files (conftest.py)

# Raw strings the graph must read as `predict` does: accents, emoji, right-to-left scripts,
# blank, over-long in tokens and in characters (the 40-characters-per-token cap, both ends),
# and what the saved clean-up rewrites.
TEXTS = [
    "what a good film!",
    "Café crème: the acting was AWFUL",
    "😀 great 👍🏽 film",
    "שלום עולם مرحبا بالعالم bad",
    "",
    "   \t ",
    "good " * 40 + "bad " * 40,
    "good" + "x" * 2000 + " bad " + "y" * 2000 + " hate it",
    "good " + "é" * 700 + " bad " + "😀" * 700 + " hate it",  # the cap counts characters, not bytes
    "@bob said #boring <br /> then #great<BR/>film",
    "é@ann #x#y @@a good",
]

# Runs in a fresh interpreter where importing ktbert fails, so the SavedModel provably needs
# only TensorFlow and tensorflow-text.
LOADER = EXPORT_LOADER_START + """
folder, texts = sys.argv[1], json.load(open(sys.argv[2], encoding="utf-8"))
serve = tf.saved_model.load(folder).signatures["serving_default"]
out = {k: v.numpy().tolist() for k, v in serve(texts=tf.constant(texts)).items()}
out = {k: [[x.decode() if isinstance(x, bytes) else x for x in row] if isinstance(row, list)
           else (row.decode() if isinstance(row, bytes) else row) for row in v] for k, v in out.items()}
out["ktbert_loaded"] = any(m == "ktbert" or m.startswith("ktbert.") for m in sys.modules)
json.dump(out, open(sys.argv[3], "w", encoding="utf-8"))
"""


def serve_in_fresh_process(folder, texts, tmp_path):
    texts_file, out_file = tmp_path / "texts.json", tmp_path / "out.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", LOADER, str(folder), str(texts_file), str(out_file)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out_file.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def single_label(make_toy_split, make_learner):
    """A trained toy sentiment predictor reading head+tail, cleaning all three ways, with a
    temperature and a binary threshold."""
    split = make_toy_split(seed=7, truncation="head+tail",
                           clean={"hashtags": True, "mentions": "@user", "html_breaks": True})
    learner = make_learner(split, batch_size=8)
    learner.fit_onecycle(5e-3, 3, verbose=0)
    predictor = ktbert.get_predictor(learner, split[2], temperature=1.7)
    predictor.set_threshold(0.4)
    return predictor


@pytest.fixture(scope="module")
def multi_label(tiny_encoder):
    df = sentiment_frame(32)
    df["labels"] = np.where(df.label == "pos", "positive|film", "negative|film")
    trn, _, preproc = ktbert.texts_from_df(df, "text", "labels", label_sep="|", val_df=df,
                                           maxlen=16, encoder=tiny_encoder, verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    return ktbert.get_predictor(model, preproc, temperature=0.8, thresholds=[0.45, 0.5, 0.55])


def test_export_serves_raw_strings_without_ktbert(single_label, tmp_path):
    folder = single_label.export(str(tmp_path / "export"))
    out = serve_in_fresh_process(folder, TEXTS, tmp_path)
    assert out["ktbert_loaded"] is False
    expected = single_label.predict(TEXTS, return_proba=True)
    np.testing.assert_allclose(np.array(out["probabilities"]), expected, atol=1e-5, rtol=0)
    assert out["label"] == single_label.predict(TEXTS)
    decided = np.zeros_like(expected, dtype=int)
    decided[np.arange(len(TEXTS)), single_label.decisions.decide(expected)] = 1
    assert np.array(out["decisions"]).tolist() == decided.tolist()
    assert out["classes"] == [single_label.get_classes()] * len(TEXTS)


def test_export_of_a_multilabel_model_applies_its_thresholds(multi_label, tmp_path):
    folder = multi_label.export(str(tmp_path / "export"))
    out = serve_in_fresh_process(folder, TEXTS, tmp_path)
    expected = multi_label.predict(TEXTS, return_proba=True)
    np.testing.assert_allclose(np.array(out["probabilities"]), expected, atol=1e-5, rtol=0)
    assert np.array(out["decisions"]).tolist() == multi_label.decisions.decide(expected).tolist()
    assert "label" not in out


def test_export_folder_has_a_checked_manifest_and_replaces_an_earlier_export(single_label, tmp_path):
    folder = tmp_path / "export"
    single_label.export(str(folder))
    manifest = saving.read_manifest(str(folder), fmt="ktbert-export")  # checksums of every file
    assert manifest["class_names"] == single_label.get_classes()
    assert manifest["preprocessor"]["truncation"] == "head+tail"
    assert manifest["decisions"] == {"temperature": 1.7, "thresholds": None, "threshold": 0.4}
    assert "saved_model.pb" in manifest["files"]
    assert any(name.startswith("variables/") for name in manifest["files"])
    single_label.export(str(folder))  # a second export replaces the first
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith(".ktbert")) == []


def test_export_refuses_a_folder_holding_other_files(single_label, tmp_path):
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="holds files that are not a ktbert save"):
        single_label.export(str(tmp_path))
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_an_export_and_a_saved_predictor_never_replace_each_other(single_label, tmp_path):
    saved, exported = tmp_path / "saved", tmp_path / "exported"
    single_label.save(str(saved))
    single_label.export(str(exported))
    with pytest.raises(FileExistsError, match=re.escape(
        f"{str(saved)!r} holds a ktbert save of another kind (format 'ktbert-predictor'); writing a "
        "'ktbert-export' there would replace it. Choose another folder so nothing is lost."
    )):
        single_label.export(str(saved))
    with pytest.raises(FileExistsError, match=re.escape("(format 'ktbert-export'); writing a 'ktbert-predictor'")):
        single_label.save(str(exported))
    ktbert.load_predictor(str(saved))  # both intact
    saving.read_manifest(str(exported), fmt="ktbert-export")


def test_export_refuses_sliding_windows_and_says_how_to_export(single_label, tmp_path):
    predictor = ktbert.get_predictor(single_label.model, single_label.preproc, long_texts="windows")
    with pytest.raises(ValueError, match=re.escape(
        "`export` reads every text as `long_texts='truncate'` does; this predictor reads long texts "
        "with long_texts='windows' (sliding windows pooled in Python), which the exported graph does "
        "not do. Set `predictor.long_texts = 'truncate'` to export"
    )):
        predictor.export(str(tmp_path / "export"))
    assert not (tmp_path / "export").exists()

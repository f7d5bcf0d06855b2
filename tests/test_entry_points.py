"""Every public entry point refuses a wrong argument with a message that names it, echoes what
was received and says the fix. One row per (entry point, argument, wrong value).

A row is `(id, call, error type, fragments)`: `call(ctx)` makes the call with one wrong
argument; each fragment must appear in the message.
"""

import numpy as np
import pandas as pd
import pytest

import ktbert

FRAME = pd.DataFrame({"text": ["a good film", "a bad film"] * 8, "label": ["pos", "neg"] * 8})


@pytest.fixture(scope="module")
def ctx(make_toy_split, tmp_path_factory):
    """What the calls need: a split, a model, a learner and a predictor on the tiny encoder."""
    trn, val, preproc = make_toy_split(seed=1)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16)
    predictor = ktbert.get_predictor(model, preproc)
    return {"trn": trn, "val": val, "preproc": preproc, "model": model, "learner": learner,
            "predictor": predictor, "encoder": preproc.encoder, "tmp": tmp_path_factory.mktemp("entry")}


def df(ctx, **kw):
    return ktbert.texts_from_df(**{"train_df": FRAME, "text_column": "text", "label_columns": "label",
                                   "encoder": ctx["encoder"], "maxlen": 16, "verbose": 0, **kw})


def array(ctx, **kw):
    return ktbert.texts_from_array(**{"x_train": ["a good film", "a bad film"] * 4, "y_train": ["pos", "neg"] * 4,
                                      "encoder": ctx["encoder"], "maxlen": 16, "verbose": 0, **kw})


NESTED = [["a good film"], ["a bad film"]]

ROWS = [
    # -- loaders ---------------------------------------------------------------------------
    ("texts_from_df train_df list", lambda c: df(c, train_df=[1, 2]), TypeError,
     ["`train_df` must be a pandas DataFrame", "Received: [1, 2] (list)"]),
    ("texts_from_df text_column unknown", lambda c: df(c, text_column="review"), ValueError,
     ["`text_column` 'review' is not a column of train_df", "['text', 'label']"]),
    ("texts_from_df label_columns number", lambda c: df(c, label_columns=3.5), TypeError,
     ["`label_columns`", "3.5"]),
    ("texts_from_df maxlen string", lambda c: df(c, maxlen="16"), TypeError,
     ["`maxlen` must be an integer. Received: maxlen='16'"]),
    ("texts_from_df val_pct", lambda c: df(c, val_pct=10), ValueError,
     ["`val_pct` must lie strictly between 0 and 1. Received: val_pct=10"]),
    ("texts_from_df random_state", lambda c: df(c, random_state="x"), TypeError,
     ["`random_state` must be an integer from 0 to 2**32 - 1, or None. Received: random_state='x'"]),
    ("texts_from_df val_df", lambda c: df(c, val_df="val.csv"), TypeError,
     ["`val_df` must be a pandas DataFrame", "Received: 'val.csv'"]),
    ("texts_from_df truncation", lambda c: df(c, truncation="middle"), ValueError,
     ["`truncation`", "'middle'"]),
    ("texts_from_df encoder", lambda c: df(c, encoder=5), TypeError, ["`encoder`", "5"]),
    ("texts_from_csv path number", lambda c: ktbert.texts_from_csv(5, "text", "label", verbose=0), TypeError,
     ["`train_filepath` must be a file path (str). Received: train_filepath=5"]),
    ("texts_from_csv sep number", lambda c: ktbert.texts_from_csv("x.csv", "text", "label", sep=9), TypeError,
     ["`sep` must be a non-empty string", "Received: sep=9"]),
    ("texts_from_csv missing file", lambda c: ktbert.texts_from_csv("no-such.csv", "text", "label"),
     FileNotFoundError, ["No such file: 'no-such.csv'"]),
    ("texts_from_array x_train number", lambda c: array(c, x_train=5), TypeError,
     ["`x_train` must be a list of strings. Received: x_train=5"]),
    ("texts_from_array x_train dict", lambda c: array(c, x_train={"a": "good"}), TypeError,
     ["`x_train` must be a list of strings, not a dict", "list(d.values())"]),
    ("texts_from_array x_train bytes", lambda c: array(c, x_train=b"good film"), TypeError,
     ["`x_train` must be a list of strings, not bytes. Received: x_train=b'good film'", "decode"]),
    ("texts_from_array x_train nested", lambda c: array(c, x_train=NESTED * 4, y_train=["pos", "neg"] * 4),
     TypeError, ["`x_train` must hold strings; position 0 holds list ['a good film']",
                 "not a list of lists"]),
    ("texts_from_array y_train length", lambda c: array(c, y_train=["pos", "neg", "pos"]), ValueError,
     ["`x_train` and `y_train` differ in length: 8 texts, 3 labels."]),
    ("texts_from_folder datadir number", lambda c: ktbert.texts_from_folder(5, encoder=c["encoder"]), TypeError,
     ["`datadir` must be a folder path (str). Received: datadir=5"]),
    ("texts_from_folder missing", lambda c: ktbert.texts_from_folder("no-such-dir", encoder=c["encoder"]),
     FileNotFoundError, ["no-such-dir"]),
    ("read_data path number", lambda c: ktbert.read_data(5), TypeError,
     ["`path` must be a file or folder path (str). Received: path=5"]),
    # -- model -----------------------------------------------------------------------------
    ("text_classifier name", lambda c: ktbert.text_classifier("gpt", c["trn"], c["preproc"], verbose=0),
     ValueError, ["`name`", "'gpt'"]),
    ("text_classifier train_data", lambda c: ktbert.text_classifier("bert", [1, 2], c["preproc"], verbose=0),
     TypeError, ["`train_data`", "[1, 2]"]),
    ("text_classifier preproc", lambda c: ktbert.text_classifier("bert", c["trn"], "preproc", verbose=0),
     TypeError, ["`preproc` must be the TextPreprocessor", "Received: 'preproc'"]),
    ("text_classifier dropout", lambda c: ktbert.text_classifier("bert", c["trn"], c["preproc"], dropout=2,
                                                                verbose=0), ValueError, ["`dropout`", "2"]),
    ("text_classifier pooling", lambda c: ktbert.text_classifier("bert", c["trn"], c["preproc"], pooling="max",
                                                                verbose=0), ValueError, ["`pooling`", "'max'"]),
    ("text_classifier precision", lambda c: ktbert.text_classifier("bert", c["trn"], c["preproc"],
                                                                  precision="fp8", verbose=0),
     ValueError, ["`precision`", "'fp8'"]),
    ("text_classifier seed", lambda c: ktbert.text_classifier("bert", c["trn"], c["preproc"], seed="0",
                                                             verbose=0),
     TypeError, ["`seed` must be an integer", "Received: seed='0'"]),
    # -- learner ---------------------------------------------------------------------------
    ("get_learner model", lambda c: ktbert.get_learner("model", c["trn"]), TypeError,
     ["`model` must be a compiled keras.Model", "Received: 'model'"]),
    ("get_learner train_data", lambda c: ktbert.get_learner(c["model"], train_data=[1, 2, 3]), TypeError,
     ["`train_data` must be an `(x, y)` pair", "Received: [1, 2, 3] (list)"]),
    ("get_learner val_data", lambda c: ktbert.get_learner(c["model"], c["trn"], val_data="val"), TypeError,
     ["`val_data` must be an `(x, y)` pair", "Received: 'val'"]),
    ("get_learner batch_size", lambda c: ktbert.get_learner(c["model"], c["trn"], batch_size="16"), ValueError,
     ["`batch_size` must be a positive integer. Received: batch_size='16'"]),
    ("get_learner bucketing", lambda c: ktbert.get_learner(c["model"], c["trn"], bucketing="no"), TypeError,
     ["`bucketing` must be True or False. Received: bucketing='no'"]),
    ("Learner.fit lr", lambda c: c["learner"].fit("1e-3", 1), ValueError,
     ["`lr` must be a positive number. Received: lr='1e-3'"]),
    ("Learner.fit_onecycle epochs", lambda c: c["learner"].fit_onecycle(1e-3, 1.5), ValueError,
     ["`epochs` must be a positive integer. Received: epochs=1.5"]),
    ("Learner.fit_onecycle pct_start", lambda c: c["learner"].fit_onecycle(1e-3, 1, pct_start=1.5), ValueError,
     ["`pct_start`", "1.5"]),
    ("Learner.fit callbacks", lambda c: c["learner"].fit(1e-3, 1, callbacks="early"), TypeError,
     ["`callbacks` must be a list of keras.callbacks.Callback", "Received: 'early'"]),
    ("Learner.fit class_weight", lambda c: c["learner"].fit(1e-3, 1, class_weight="even"), ValueError,
     ["`class_weight`", "'even'"]),
    ("Learner.fit verbose", lambda c: c["learner"].fit(1e-3, 1, verbose="loud"), TypeError,
     ["`verbose` must be 0, 1 or 2. Received: verbose='loud'"]),
    ("Learner.autofit epochs", lambda c: c["learner"].autofit(1e-3, epochs="3"), ValueError,
     ["`epochs` must be a positive integer. Received: epochs='3'"]),
    ("Learner.autofit monitor", lambda c: c["learner"].autofit(1e-3, 1, monitor="accuracy"), ValueError,
     ["`monitor`", "'accuracy'"]),
    ("Learner.lr_find num_it", lambda c: c["learner"].lr_find(num_it=0), ValueError,
     ["`num_it` must be a positive integer. Received: num_it=0"]),
    ("Learner.lr_find start_lr", lambda c: c["learner"].lr_find(start_lr=-1), ValueError,
     ["`start_lr` must be a positive number. Received: start_lr=-1"]),
    ("Learner.validate val_data", lambda c: c["learner"].validate(val_data="val"), TypeError,
     ["`val_data` must be an `(x, y)` pair", "Received: 'val'"]),
    ("Learner.view_top_losses n", lambda c: c["learner"].view_top_losses(n="3"), ValueError,
     ["`n` must be a positive integer. Received: n='3'"]),
    ("Learner.predict data", lambda c: c["learner"].predict(data=5), TypeError,
     ["`data` must be an `(x, y)` pair", "Received: 5"]),
    ("Learner.plot plot_type", lambda c: c["learner"].plot("acc"), ValueError,
     ["`plot_type` must be one of ['loss', 'lr', 'momentum']. Received: plot_type='acc'"]),
    ("Learner.fit checkpoint_folder", lambda c: c["learner"].fit(1e-3, 1, checkpoint_folder=5), TypeError,
     ["`checkpoint_folder` must be a folder path (str). Received: checkpoint_folder=5"]),
    ("Learner.autofit early_stopping", lambda c: c["learner"].autofit(1e-3, 1, early_stopping="x"), ValueError,
     ["`early_stopping` must be a positive integer. Received: early_stopping='x'"]),
    ("Learner.autofit reduce_on_plateau", lambda c: c["learner"].autofit(1e-3, 1, reduce_on_plateau=1.5),
     ValueError, ["`reduce_on_plateau` must be a positive integer. Received: reduce_on_plateau=1.5"]),
    ("Learner.validate print_report", lambda c: c["learner"].validate(print_report="no"), TypeError,
     ["`print_report` must be True or False. Received: print_report='no'"]),
    ("Learner.calibrate val_data", lambda c: c["learner"].calibrate(val_data=5), TypeError,
     ["`val_data` must be an `(x, y)` pair, as the ktbert loaders return. Received: 5"]),
    ("Learner.calibrate verbose", lambda c: c["learner"].calibrate(verbose="x"), TypeError,
     ["`verbose` must be 0, 1 or 2. Received: verbose='x'"]),
    ("Learner.evaluate data", lambda c: c["learner"].evaluate(data="x"), TypeError,
     ["`data` must be an `(x, y)` pair, as the ktbert loaders return. Received: 'x'"]),
    ("Learner.interpret data", lambda c: c["learner"].interpret(data=5), TypeError,
     ["`data` must be an `(x, y)` pair"]),
    ("Learner.lr_plot suggest", lambda c: c["learner"].lr_plot(suggest="x"), TypeError,
     ["`suggest` must be True or False. Received: suggest='x'"]),
    ("Learner.set_weight_decay wd", lambda c: c["learner"].set_weight_decay(wd="x"), ValueError,
     ["`wd` must be a number >= 0. Received: wd='x'"]),
    ("Learner.top_losses n", lambda c: c["learner"].top_losses(n=0), ValueError,
     ["`n` must be a positive integer. Received: n=0"]),
    ("Learner.tune_thresholds val_data", lambda c: c["learner"].tune_thresholds(val_data=5), TypeError,
     ["`val_data` must be an `(x, y)` pair", "Received: 5"]),
    ("Predictor.calibrate val_data", lambda c: c["predictor"].calibrate(5), TypeError,
     ["`val_data` must be the `(x, y)` validation data a ktbert loader returned. Received: 5"]),
    ("Predictor.tune_threshold val_data", lambda c: c["predictor"].tune_threshold(5), TypeError,
     ["`val_data` must be the `(x, y)` validation data a ktbert loader returned. Received: 5"]),
    ("Predictor.tune_thresholds val_data", lambda c: c["predictor"].tune_thresholds("val"), TypeError,
     ["`val_data` must be the `(x, y)` validation data a ktbert loader returned. Received: 'val'"]),
    ("Predictor.set_threshold threshold", lambda c: c["predictor"].set_threshold("x"), ValueError,
     ["`threshold` must lie strictly between 0 and 1. Received: threshold='x'"]),
    ("Predictor.set_thresholds thresholds", lambda c: c["predictor"].set_thresholds("x"), TypeError,
     ["`thresholds` must be a list of numbers, one per label. Received: thresholds='x'"]),
    ("Predictor.predict texts set", lambda c: c["predictor"].predict({"good", "bad"}), TypeError,
     ["`texts` must be a list of strings, not a set", "Pass a list."]),
    ("texts_from_csv encoding", lambda c: ktbert.texts_from_csv("x.csv", "text", "label", encoding=5), TypeError,
     ["`encoding` must be the name of a text encoding, e.g. 'utf-8' or 'latin-1'. Received: encoding=5"]),
    ("Learner.freeze freeze_range", lambda c: c["learner"].freeze("x"), TypeError,
     ["`freeze_range` must be a non-negative integer", "Received: freeze_range='x'"]),
    ("Learner.unfreeze n_top", lambda c: c["learner"].unfreeze(n_top="x"), ValueError,
     ["`n_top` must be a positive integer. Received: n_top='x'"]),
    ("Learner.unfreeze exclude_range", lambda c: c["learner"].unfreeze(exclude_range="x"), TypeError,
     ["`exclude_range` must be a non-negative integer", "Received: exclude_range='x'"]),
    ("Learner.unfreeze positional", lambda c: c["learner"].unfreeze(2), TypeError,
     ["Received: unfreeze(2)", "write `unfreeze(exclude_range=2)`", "write `unfreeze(n_top=2)`"]),
    ("Learner.print_layers show_wd", lambda c: c["learner"].print_layers(show_wd="x"), TypeError,
     ["`show_wd` must be True or False. Received: show_wd='x'"]),
    ("Learner.print_layers show_weights", lambda c: c["learner"].print_layers(show_weights="x"), TypeError,
     ["`show_weights` must be True or False. Received: show_weights='x'"]),
    ("Learner.save_model folder", lambda c: c["learner"].save_model(5), TypeError,
     ["`folder` must be a folder path (str). Received: folder=5"]),
    ("Learner.load_model folder", lambda c: c["learner"].load_model(5), TypeError,
     ["`folder` must be a folder path (str). Received: folder=5"]),
    ("Learner.load_checkpoint epoch", lambda c: c["learner"].load_checkpoint(str(c["tmp"]), 0), ValueError,
     ["`epoch` must be a positive integer. Received: epoch=0"]),
    ("Learner.load_best folder", lambda c: c["learner"].load_best(5), TypeError,
     ["`folder` must be a folder path (str). Received: folder=5"]),
    ("Learner.report path", lambda c: c["learner"].report(str(c["tmp"] / "report.pdf")), ValueError,
     ["`path` must name a .html file. Received: path=", "report.pdf"]),
    ("Learner.report max_texts", lambda c: c["learner"].report(str(c["tmp"] / "r.html"), max_texts=0), ValueError,
     ["`max_texts` must be a positive integer. Received: max_texts=0"]),
    ("Learner.report max_explained", lambda c: c["learner"].report(str(c["tmp"] / "r.html"), max_explained=-1),
     ValueError, ["`max_explained` must be an integer >= 0. Received: max_explained=-1"]),
    # -- predictor -------------------------------------------------------------------------
    ("get_predictor model", lambda c: ktbert.get_predictor("model", c["preproc"]), TypeError,
     ["`model` must be a classifier built by `ktbert.text_classifier`", "Received: 'model'"]),
    ("get_predictor preproc", lambda c: ktbert.get_predictor(c["model"], {"maxlen": 16}), TypeError,
     ["`preproc` must be a TextPreprocessor", "Received: {'maxlen': 16} (dict)"]),
    ("get_predictor batch_size", lambda c: ktbert.get_predictor(c["model"], c["preproc"], batch_size=0),
     ValueError, ["`batch_size` must be a positive integer. Received: batch_size=0"]),
    ("get_predictor long_texts", lambda c: ktbert.get_predictor(c["model"], c["preproc"], long_texts="all"),
     ValueError, ["`long_texts`", "'all'"]),
    ("get_predictor unknown option", lambda c: ktbert.get_predictor(c["model"], c["preproc"], maxlen=64),
     TypeError, ["maxlen"]),
    ("Predictor.predict texts number", lambda c: c["predictor"].predict(5), TypeError,
     ["`texts` must be a list of strings. Received: texts=5"]),
    ("Predictor.predict texts dict", lambda c: c["predictor"].predict({"text": "good"}), TypeError,
     ["`texts` must be a list of strings, not a dict", "Received: texts={'text': 'good'} (dict)"]),
    ("Predictor.predict texts bytes", lambda c: c["predictor"].predict(b"good"), TypeError,
     ["`texts` must be a list of strings, not bytes. Received: texts=b'good'"]),
    ("Predictor.predict texts nested", lambda c: c["predictor"].predict(NESTED), TypeError,
     ["`texts` must hold strings; position 0 holds list ['a good film']. Pass one flat list"]),
    ("Predictor.predict texts 2-d array", lambda c: c["predictor"].predict(np.array(NESTED)), TypeError,
     ["`texts` must be a flat list of strings; it has 2 dimensions"]),
    ("Predictor.predict texts None entry", lambda c: c["predictor"].predict(["good", None]), ValueError,
     ["`texts` has 1 missing value(s) (None or NaN) at position(s) [1]"]),
    ("Predictor.predict return_proba", lambda c: c["predictor"].predict(["good"], return_proba="yes"), TypeError,
     ["`return_proba` must be True or False. Received: return_proba='yes'"]),
    ("Predictor.predict_proba texts number", lambda c: c["predictor"].predict_proba(7), TypeError,
     ["`texts` must be a list of strings. Received: texts=7"]),
    ("Predictor.explain text list", lambda c: c["predictor"].explain(["good"]), TypeError,
     ["`text` must be one string", "Received: text=['good'] (list)"]),
    ("Predictor.save folder number", lambda c: c["predictor"].save(5), TypeError,
     ["`folder` must be a folder path (str). Received: folder=5"]),
    ("Predictor.export folder number", lambda c: c["predictor"].export(5), TypeError,
     ["`folder` must be a folder path (str). Received: folder=5"]),
    ("Predictor.export format", lambda c: c["predictor"].export(str(c["tmp"] / "x"), format="tflite"), ValueError,
     ["`format` must be one of ['savedmodel', 'onnx']. Received: format='tflite'"]),
    ("Predictor.embed texts number", lambda c: c["predictor"].embed(5), TypeError,
     ["`texts` must be a list of strings. Received: texts=5"]),
    ("Predictor.embed texts None entry", lambda c: c["predictor"].embed(["good", None]), ValueError,
     ["`texts` has 1 missing value(s) (None or NaN) at position(s) [1]"]),
    ("load_predictor folder number", lambda c: ktbert.load_predictor(5), TypeError,
     ["`folder` must be a folder path (str). Received: folder=5"]),
    ("load_predictor missing", lambda c: ktbert.load_predictor(str(c["tmp"] / "none")), FileNotFoundError,
     ["No such folder", "none"]),
    ("load_predictor batch_size", lambda c: ktbert.load_predictor(str(c["tmp"]), batch_size=-1), ValueError,
     ["`batch_size` must be a positive integer. Received: batch_size=-1"]),
    ("load_predictor quantize", lambda c: ktbert.load_predictor(str(c["tmp"]), quantize="int4"), ValueError,
     ["`quantize` must be one of [None, 'int8']. Received: quantize='int4'"]),
    # -- report --------------------------------------------------------------------------
    ("write_report interp", lambda c: ktbert.write_report(str(c["tmp"] / "r.html"), "interp"), TypeError,
     ["`interp` must be a ktbert Interpretation", "Received: 'interp'"]),
    ("write_report path folder", lambda c: ktbert.write_report(str(c["tmp"] / "none" / "r.html"), None),
     FileNotFoundError, ["`path`", "the folder", "does not exist"]),
    # -- recipe ----------------------------------------------------------------------------
    ("TrainingSettings lr", lambda c: ktbert.TrainingSettings("text", "label", lr="fast"), ValueError,
     ["`lr` must be a positive number. Received: lr='fast'"]),
    ("TrainingSettings schedule", lambda c: ktbert.TrainingSettings("text", "label", schedule="cosine"), ValueError,
     ["`schedule` must be one of ['onecycle', 'autofit', 'constant', 'sgdr']. Received: schedule='cosine'"]),
    ("TrainingSettings long_texts", lambda c: ktbert.TrainingSettings("text", "label", long_texts="all"), ValueError,
     ["`long_texts` must be one of ['truncate', 'windows']. Received: long_texts='all'"]),
    ("TrainingSettings seed", lambda c: ktbert.TrainingSettings("text", "label", seed=1.5), TypeError,
     ["`seed` must be an integer", "Received: seed=1.5"]),
    ("train_classifier train_df", lambda c: ktbert.train_classifier(ktbert.TrainingSettings("text", "label"),
                                                                     "train.csv"), TypeError,
     ["`train_df` must be a pandas DataFrame. Received: 'train.csv'"]),
    ("train_classifier settings", lambda c: ktbert.train_classifier({"data": "x.csv"}, FRAME), TypeError,
     ["`settings` must be a ktbert.TrainingSettings", "Received: {'data': 'x.csv'} (dict)"]),
    ("TextCleaner hashtags", lambda c: ktbert.TextCleaner(hashtags="yes"), TypeError,
     ["`hashtags`", "'yes'"]),
]


@pytest.mark.parametrize("call, error, fragments", [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_a_wrong_argument_is_refused_by_name_with_the_value_and_the_fix(ctx, call, error, fragments):
    with pytest.raises(error) as caught:
        call(ctx)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def public_entry_points() -> list:
    """Every public function in `ktbert.__all__`, and every public method of `Learner` and
    `Predictor` that takes an argument, as the row ids name them."""
    import inspect

    names = [n for n in ktbert.__all__ if inspect.isfunction(getattr(ktbert, n))]
    names.append("TrainingSettings")
    for cls in (ktbert.Learner, ktbert.Predictor):
        for name, member in inspect.getmembers(cls, inspect.isfunction):
            if not name.startswith("_") and len(inspect.signature(member).parameters) > 1:
                names.append(f"{cls.__name__}.{name}")
    return names


def test_every_public_entry_point_has_a_row():
    """A new public function or method gets its rows here; `compare` is checked in
    tests/evaluate/test_baselines.py."""
    covered = {r[0].split(" ")[0] for r in ROWS}
    missing = [n for n in public_entry_points() if n not in covered and n != "compare"]
    assert missing == []

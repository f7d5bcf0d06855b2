"""The HTML report (`ktbert/evaluate/report*.py`) on tiny random models: self-contained, its
numbers equal to `validate`'s, user texts escaped, the binary and multi-label sections, the caps
stated, and the entry points `learner.report`, `TrainingRun.report` and `--report` writing it."""

import html.parser
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

import ktbert
from helpers import report_learner, sentiment_frame
from ktbert.cli import main
from ktbert.evaluate import metrics
from ktbert.evaluate.calibration import fit_temperature
from ktbert.evaluate.report_data import gather_report
from ktbert.recipe.training_run import TrainingRun

SCRIPT = "<script>alert(1)</script>"


class Tables(html.parser.HTMLParser):
    """Every table with an id: `{id: [[cell text, ...] per row]}`, headers included."""

    def __init__(self, page):
        super().__init__()
        self.tables, self.current, self.row, self.cell = {}, None, None, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "id" in attrs:
            self.current = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr" and self.current is not None:
            self.row = []
            self.current.append(self.row)
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.current = self.row = None
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def confusion_from_page(page, multilabel=False) -> np.ndarray:
    """The numbers of the page's `confusion-matrix` table."""
    rows = Tables(page).tables["confusion-matrix"][1:]  # the header row names the columns
    values = np.array([[int(cell) for cell in row[1:]] for row in rows])
    return values.reshape(-1, 2, 2) if multilabel else values


@pytest.fixture(autouse=True)
def close_figures():
    """The report closes every figure it draws: none is left open after a test that had none
    open before (another module in this worker may have left some)."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


@pytest.fixture(scope="module")
def binary(tiny_encoder):
    """A learner trained one epoch on the toy task, lr_find run; its validation rows hold
    `SCRIPT` in a text. `(learner, trn, val, preproc)`."""
    return report_learner(tiny_encoder, SCRIPT)


@pytest.fixture(scope="module")
def binary_page(binary, tmp_path_factory):
    learner, _, _, preproc = binary
    path = tmp_path_factory.mktemp("report") / "report.html"
    assert learner.report(str(path), preproc=preproc, max_texts=30, max_explained=2) == str(path)
    return path.read_text(encoding="utf-8")


def multilabel_frame(n, seed):
    frame = sentiment_frame(n, seed=seed)
    tagged = np.arange(n) % 3 == 0
    frame.loc[tagged, "text"] = frame.text[tagged] + " movie"
    frame.loc[tagged, "label"] = frame.label[tagged] + "|movie"
    return frame


@pytest.fixture(scope="module")
def multilabel(tiny_encoder):
    trn, val, preproc = ktbert.texts_from_df(multilabel_frame(48, 1), "text", "label", val_df=multilabel_frame(18, 2),
                                             maxlen=16, encoder=tiny_encoder, label_sep="|", verbose=0)
    model = ktbert.text_classifier("bert", trn, preproc, seed=0, verbose=0)
    learner = ktbert.get_learner(model, train_data=trn, val_data=val, batch_size=16, seed=0)
    learner.thresholds = [0.4, 0.5, 0.6]
    return learner, preproc


# -- the page ----------------------------------------------------------------------------------
def test_the_page_loads_nothing_and_runs_nothing(binary_page):
    assert binary_page.startswith("<!DOCTYPE html>")
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", binary_page, re.I) is None
    assert re.search(r"<script\b", binary_page, re.I) is None
    assert "@import" not in binary_page and "url(" not in binary_page
    sources = re.findall(r'<img src="([^"]*)"', binary_page)
    assert len(sources) >= 6 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "default-src 'none'" in binary_page  # the Content Security Policy


def test_a_text_holding_markup_shows_as_text(binary_page):
    assert SCRIPT not in binary_page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in binary_page


def test_the_confusion_matrix_table_equals_validate(binary, binary_page):
    learner, _, _, preproc = binary
    expected = learner.validate(print_report=False, preproc=preproc)
    np.testing.assert_array_equal(confusion_from_page(binary_page), expected)
    assert Tables(binary_page).tables["confusion-matrix"][0] == ["true \\ predicted", "neg", "pos"]


def test_the_per_class_table_and_scores_are_the_interpretations(binary, binary_page):
    learner, _, val, preproc = binary
    report = learner.interpret(preproc=preproc).classification_report(as_dict=True)
    rows = {row[0]: row[1:] for row in Tables(binary_page).tables["per-class"][1:]}
    for name in ("neg", "pos", "macro avg"):
        assert rows[name] == [f"{report[name][k]:.4f}" for k in ("precision", "recall", "f1-score")] + [
            str(int(report[name]["support"]))]


def test_what_was_evaluated_names_the_model_data_and_versions(binary_page):
    for fragment in ("TextClassifier", "validation data", "64 texts", "24 texts", "keras-hub", "tensorflow",
                     f"<td>{ktbert.__version__}</td>", "seed"):
        assert fragment in binary_page, fragment


def test_a_binary_model_gets_its_threshold_curve_and_the_training_curves(binary_page):
    for section in ("Precision and recall against the threshold", "Calibration", "Training", "Top losses"):
        assert f">{section}</h2>" in binary_page
    assert "Per-label thresholds" not in binary_page
    assert binary_page.count('alt="learning-rate finder"') == 1
    for alt in ("learning rate per step", "training and validation loss per epoch", "confusion matrix"):
        assert f'alt="{alt}"' in binary_page


def test_the_worst_texts_are_shown_and_the_first_explained(binary, binary_page):
    learner, _, _, preproc = binary
    assert binary_page.count('class="example"') == 24  # max_texts=30 > 24 rows: all of them
    assert binary_page.count("green words support it") == 2  # max_explained=2
    worst = learner.top_losses(1, preproc=preproc)[0]
    assert f"(example {worst[0]}): loss {worst[1]:.4f}" in binary_page


def test_the_cap_on_texts_is_stated(binary, tmp_path):
    learner, _, _, preproc = binary
    path = learner.report(str(tmp_path / "r.html"), preproc=preproc, max_texts=3, max_explained=0)
    page = open(path, encoding="utf-8").read()
    assert page.count('class="example"') == 3
    assert "Showing the 3 examples with the highest loss out of 24 (at most 3" in page
    assert "green words" not in page and "occlusion" not in page


def test_calibration_before_and_after_matches_the_metrics(binary):
    learner, _, val, preproc = binary
    raw = learner.predict(calibrated=False)
    learner.temperature = 2.0
    try:
        interp = learner.interpret(preproc=preproc)
        data = gather_report(interp, raw)
        recovered = gather_report(interp)  # no raw probabilities: the temperature is undone
    finally:
        learner.temperature = 1.0
    c = data.calibration
    assert c.applied and c.temperature == 2.0
    assert c.ece_before == metrics.expected_calibration_error(val.y, raw)
    assert c.ece_after == metrics.expected_calibration_error(val.y, interp.proba)
    assert recovered.calibration.ece_before == pytest.approx(c.ece_before, abs=1e-6)
    assert c.before["count"].sum() == len(val.y)


def test_without_a_temperature_one_is_fitted_on_the_data_and_said_so(binary):
    learner, _, val, preproc = binary
    data = gather_report(learner.interpret(preproc=preproc))
    assert not data.calibration.applied
    fitted = fit_temperature(learner.predict(calibrated=False), val.y)
    assert data.calibration.temperature == pytest.approx(fitted)


def test_reliability_bins_add_up_to_the_ece():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=200)
    y = rng.integers(0, 3, size=200)
    bins = metrics.reliability_bins(y, proba, 10)
    filled = bins["count"] > 0
    gaps = np.abs(bins["accuracy"] - bins["confidence"])[filled] * bins["count"][filled] / 200
    assert bins["count"].sum() == 200 and np.isnan(bins["accuracy"][~filled]).all()
    assert metrics.expected_calibration_error(y, proba, 10) == pytest.approx(gaps.sum())


def test_a_set_binary_threshold_is_marked(binary, tmp_path):
    learner, _, _, preproc = binary
    learner.threshold = 0.7
    try:
        data = gather_report(learner.interpret(preproc=preproc))
    finally:
        learner.threshold = None
    curve = data.threshold_curve
    assert curve["tuned"] and curve["threshold"] == 0.7 and curve["positive"] == "pos"
    at = int(np.flatnonzero(curve["thresholds"] == 0.7)[0])
    decided = learner.predict()[:, 1] >= 0.7
    truth = learner.val_data.y == 1
    assert curve["recall"][at] == pytest.approx((decided & truth).sum() / truth.sum())


def test_a_multilabel_model_gets_per_label_thresholds_and_f1(multilabel, tmp_path):
    learner, preproc = multilabel
    path = learner.report(str(tmp_path / "r.html"), preproc=preproc, max_explained=1)
    page = open(path, encoding="utf-8").read()
    assert ">Per-label thresholds and F1</h2>" in page and "against the threshold" not in page
    assert ">Training</h2>" not in page  # no fit, no lr_find
    assert 'alt="outcomes per label"' in page and 'alt="F1 and threshold per label"' in page
    rows = Tables(page).tables["label-thresholds"]
    assert [row[:2] for row in rows[1:]] == [["movie", "0.4000"], ["neg", "0.5000"], ["pos", "0.6000"]]
    np.testing.assert_array_equal(confusion_from_page(page, multilabel=True),
                                  learner.validate(print_report=False, preproc=preproc))


def test_compare_s_baselines_are_shown_side_by_side(binary, tmp_path):
    learner, trn, val, preproc = binary
    table = ktbert.compare(trn, val, preproc, learner=learner, baselines=("tfidf",))
    path = learner.report(str(tmp_path / "r.html"), preproc=preproc, comparison=table, max_explained=0)
    rows = Tables(open(path, encoding="utf-8").read()).tables["comparison"]
    assert rows[0][:4] == ["model", "accuracy", "micro_f1", "macro_f1"]
    assert [row[0] for row in rows[1:]] == list(table.index)
    assert rows[2][1] == f"{table.iloc[1]['accuracy']:.4f}"


def test_a_report_replaces_the_file_and_leaves_no_temporary_file(binary, tmp_path):
    learner, _, _, preproc = binary
    path = tmp_path / "r.html"
    path.write_text("old")
    learner.report(str(path), max_explained=0)  # no preproc: class names from the model
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


# -- the recipe and the command line ---------------------------------------------------------
def test_a_run_reading_long_texts_in_windows_reports_its_predictor_s_numbers(binary, tmp_path):
    learner, trn, val, preproc = binary
    predictor = ktbert.get_predictor(learner, preproc, long_texts="windows")
    predictor.temperature = 1.5
    settings = ktbert.TrainingSettings("text", "label", maxlen=16, long_texts="windows")
    run = TrainingRun(settings, learner, predictor, preproc, trn, val, None, 5e-3, {})
    page = open(run.report(str(tmp_path / "r.html"), max_explained=1), encoding="utf-8").read()
    interp = run.interpret()
    np.testing.assert_array_equal(confusion_from_page(page), interp.confusion_matrix())
    assert "long_texts=&#x27;windows&#x27;" in page and "temperature 1.500" in page and ">Training</h2>" in page
    predictor.temperature = 1.0  # the pooled probabilities before scaling, which the page recovers
    raw = predictor.predict_proba(val.x.texts)
    assert f"Expected calibration error {metrics.expected_calibration_error(val.y, raw):.4f} before" in page


def test_the_command_line_writes_the_reports_of_training_and_evaluation(tiny_encoder, tmp_path, capsys):
    """`ktbert train --test --report` (which calls `TrainingRun.report`) and `ktbert evaluate
    --report` of the saved predictor on the same test data show the same matrix."""
    sentiment_frame(64, seed=0).to_csv(tmp_path / "train.csv", index=False)
    test_df = sentiment_frame(16, seed=3)
    test_df.loc[0, "text"] = f"{SCRIPT} the film was good"
    test_df.to_csv(tmp_path / "test.csv", index=False)
    data = ["--text-column", "text", "--label-column", "label"]
    code = main(["train", str(tmp_path / "train.csv"), *data, "--test", str(tmp_path / "test.csv"), "--encoder",
                 tiny_encoder, "--maxlen", "16", "--epochs", "1", "--lr", "5e-3", "--batch-size", "16", "--quiet",
                 "--output", str(tmp_path / "m"), "--report", str(tmp_path / "train.html")])
    assert code == 0, capsys.readouterr().err
    assert f"wrote the report to {tmp_path / 'train.html'}" in capsys.readouterr().out
    code = main(["evaluate", str(tmp_path / "m"), str(tmp_path / "test.csv"), *data,
                 "--report", str(tmp_path / "evaluate.html")])
    assert code == 0, capsys.readouterr().err

    predictor = ktbert.load_predictor(str(tmp_path / "m"))
    proba = predictor.predict(test_df.text.tolist(), return_proba=True)
    y = np.array([predictor.get_classes().index(label) for label in test_df.label])
    expected = metrics.confusion_matrix(y, proba.argmax(1), 2)
    trained = (tmp_path / "train.html").read_text(encoding="utf-8")
    evaluated = (tmp_path / "evaluate.html").read_text(encoding="utf-8")
    for page in (trained, evaluated):
        np.testing.assert_array_equal(confusion_from_page(page), expected)
        assert "&lt;script&gt;" in page and SCRIPT not in page and "16 texts" in page
    assert ">Training</h2>" in trained and ">Training</h2>" not in evaluated
    assert "<td>test data</td>" in trained and "epochs=1, lr=0.005" in trained
    assert f"<td>{tmp_path / 'test.csv'}</td>" in evaluated


def test_a_bad_report_path_is_refused_before_any_work(tmp_path, capsys):
    code = main(["evaluate", str(tmp_path / "no-model"), str(tmp_path / "no.csv"), "--report",
                 str(tmp_path / "report.pdf")])
    assert code == 2
    assert "`--report` must name a .html file" in capsys.readouterr().err

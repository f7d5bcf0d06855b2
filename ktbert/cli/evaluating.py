"""`ktbert evaluate`: a saved predictor scored on labelled DATA, the report printed and, with
`--report`, written as an HTML page.

Loads no training code: the predictor predicts, the evaluation room's functions score, with
the decisions (temperature, thresholds) saved in the predictor.
"""

from __future__ import annotations

from ktbert.checks import check_count
from ktbert.cli.parser import DEFAULT_LABEL_SEP
from ktbert.cli.reports import print_report
from ktbert.data.reading import read_data
from ktbert.data.tables import texts_and_labels
from ktbert.evaluate.interpretation import Interpretation
from ktbert.evaluate.metrics import scores
from ktbert.evaluate.report import check_report_path, describe_model, write_report
from ktbert.serve.factories import load_predictor


def evaluate(args) -> int:
    """`ktbert evaluate`: predicts DATA's texts and prints the report against its labels."""
    batch_size = check_count(args.batch_size, "batch_size")
    if args.report is not None:  # refused now, not after predicting
        check_report_path(args.report, "--report")
    labels = args.label_column[0] if len(args.label_column) == 1 else list(args.label_column)
    frame = read_data(args.data, args.text_column, labels, sep=args.sep, encoding=args.encoding)
    absent = [name for name in args.label_column if name not in frame.columns]
    if absent:  # unlabelled data: refused before the model is loaded
        raise ValueError(f"`--label-column` {absent[0]!r} is not a column of {args.data!r} (columns present: "
                         f"{list(frame.columns)}). `ktbert evaluate` scores labelled data against its labels: name "
                         "the label column with --label-column, or label unlabelled texts with `ktbert predict`.")
    predictor = load_predictor(args.model_dir, batch_size=batch_size)
    multilabel = predictor.preproc.multilabel
    label_sep = args.label_sep
    if label_sep is None and multilabel and isinstance(labels, str):
        label_sep = DEFAULT_LABEL_SEP
    texts, encoded = texts_and_labels(frame, args.text_column, labels, label_sep, args.data,
                                      class_names=predictor.get_classes(), multilabel=multilabel)
    # Predicted once without the temperature, then calibrated as `predict` calibrates: the
    # report draws both.
    decisions = predictor.decisions
    predictor.decisions = decisions.replace(temperature=1.0)
    try:
        raw = predictor.predict(texts, return_proba=True)
    finally:
        predictor.decisions = decisions
    proba = decisions.calibrate(raw)
    interp = Interpretation(encoded.y, proba, predictor.get_classes(), texts, decisions=decisions)
    print_report(interp, scores(encoded.y, proba, decisions), args.data)
    if args.report is not None:
        write(args.report, args, predictor, interp, raw, batch_size)
    return 0


def write(path, args, predictor, interp, raw, batch_size: int) -> None:
    """Writes the HTML report of `ktbert evaluate --report`."""
    import matplotlib

    matplotlib.use("Agg")  # the figures go into the file; no window, also without a display
    about = describe_model(predictor.model, predictor.preproc) + [
        ("saved predictor", args.model_dir), ("evaluated on", args.data),
        ("long texts", predictor.long_texts), ("batch size", batch_size)]
    explain = None if predictor.preproc.pairs else predictor.predict_proba
    print(f"wrote the report to {write_report(path, interp, raw, predict_proba=explain, about=about)}")

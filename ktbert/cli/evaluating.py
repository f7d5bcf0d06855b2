"""`ktbert evaluate`: a saved predictor scored on labelled DATA, and the report printed.

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
from ktbert.serve.factories import load_predictor


def evaluate(args) -> int:
    """`ktbert evaluate`: predicts DATA's texts and prints the report against its labels."""
    batch_size = check_count(args.batch_size, "batch_size")
    labels = args.label_column[0] if len(args.label_column) == 1 else list(args.label_column)
    frame = read_data(args.data, args.text_column, labels, sep=args.sep, encoding=args.encoding)
    predictor = load_predictor(args.model_dir, batch_size=batch_size)
    multilabel = predictor.preproc.multilabel
    label_sep = args.label_sep
    if label_sep is None and multilabel and isinstance(labels, str):
        label_sep = DEFAULT_LABEL_SEP
    texts, encoded = texts_and_labels(frame, args.text_column, labels, label_sep, args.data,
                                      class_names=predictor.get_classes(), multilabel=multilabel)
    proba = predictor.predict(texts, return_proba=True)
    interp = Interpretation(encoded.y, proba, predictor.get_classes(), texts, decisions=predictor.decisions)
    print_report(interp, scores(encoded.y, proba, predictor.decisions), args.data)
    return 0

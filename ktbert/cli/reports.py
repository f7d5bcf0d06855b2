"""The report `ktbert train` and `ktbert evaluate` print: per-class scores and the overall ones."""

from __future__ import annotations


def print_report(interp, run_scores: dict, title: str) -> None:
    """Prints scikit-learn's classification report of an `Interpretation`, then accuracy and F1.

    Args:
        interp: Interpretation. the predictions on the scored data, with the saved decisions.
        run_scores: dict. `ktbert.evaluate.metrics.scores` of the same predictions.
        title: str. what was scored ("validation", "test", a file name).
    """
    accuracy = "exact-match accuracy" if interp.multilabel else "accuracy"
    print(f"\n{title} report ({len(interp.y_true)} texts):")
    print(interp.classification_report())
    print(f"{accuracy} {run_scores['accuracy']:.4f}, micro-F1 {run_scores['micro_f1']:.4f}, "
          f"macro-F1 {run_scores['macro_f1']:.4f}")

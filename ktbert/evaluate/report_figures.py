"""The report's own figures: the reliability diagram, precision and recall against the threshold,
per-label thresholds and F1, per-label outcomes, and the baselines side by side.

Like `ktbert.evaluate.plots` (which draws the report's other figures), these functions only
draw what `ktbert.evaluate.report_data` computed, and return a matplotlib `Figure`.
"""

from __future__ import annotations

import numpy as np

SCORES = (("accuracy", "accuracy"), ("micro_f1", "micro-F1"), ("macro_f1", "macro-F1"))
MAX_INCHES = 16.0  # a figure of many labels stays readable on a screen


def _subplots(ncols: int = 1, width: float = 7.0, height: float = 4.5):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, list(axes[0])


def _reliability_panel(ax, bins: dict, title: str) -> None:
    edges = bins["edges"]
    width = np.diff(edges)
    filled = bins["count"] > 0
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfectly calibrated")
    ax.bar(edges[:-1][filled], bins["accuracy"][filled], width=width[filled], align="edge",
           color="tab:blue", edgecolor="white", alpha=0.8, label="accuracy")
    ax.plot(bins["confidence"][filled], bins["accuracy"][filled], "o", color="tab:orange",
            markersize=4, label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence")
    ax.set_title(title)


def plot_reliability(calibration):
    """Two reliability diagrams side by side: the raw probabilities and after temperature scaling.

    Args:
        calibration: `ktbert.evaluate.report_data.Calibration`.
    """
    fig, (before, after) = _subplots(2, width=10.0, height=5.0)
    _reliability_panel(before, calibration.before, f"before scaling: ECE {calibration.ece_before:.4f}")
    how = "the model's" if calibration.applied else "fitted here,"
    _reliability_panel(after, calibration.after,
                       f"{how} T={calibration.temperature:.3f}: ECE {calibration.ece_after:.4f}")
    before.set_ylabel("accuracy")
    before.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig


def plot_threshold_curve(curve: dict):
    """Precision and recall of the positive class against the threshold, the chosen one marked.

    Args:
        curve: dict. `ktbert.evaluate.report_data.threshold_curve`'s.
    """
    fig, (ax,) = _subplots()
    ax.plot(curve["thresholds"], curve["precision"], label="precision")
    ax.plot(curve["thresholds"], curve["recall"], label="recall")
    chosen = curve["threshold"]
    ax.axvline(chosen, color="black", linestyle="--",
               label=f"{'chosen' if curve['tuned'] else 'most probable class'}: {chosen:.2f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"threshold on the probability of {curve['positive']!r}")
    ax.set_title("precision and recall against the threshold")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def plot_label_thresholds(rows: list):
    """Each label's F1 as a bar, its decision threshold as a point.

    Args:
        rows: list of dict. `ktbert.evaluate.report_data.label_thresholds`'s.
    """
    fig, (ax,) = _subplots(width=min(max(7.0, 0.25 * len(rows)), MAX_INCHES))
    x = np.arange(len(rows))
    ax.bar(x, [row["f1-score"] for row in rows], color="tab:blue", label="F1")
    ax.plot(x, [row["threshold"] for row in rows], "D", color="tab:red", markersize=4, label="threshold")
    ax.set_xticks(list(x), labels=[row["label"] for row in rows], rotation=90 if len(rows) > 20 else 45,
                  ha="center" if len(rows) > 20 else "right", fontsize="small" if len(rows) > 20 else None)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylim(0, 1.15)  # the legend sits above the bars
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_title("F1 and decision threshold per label")
    ax.legend(loc="upper center", ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def plot_label_outcomes(matrices, names):
    """A multi-label model's outcomes: per label (row) its TN, FP, FN and TP counts, each cell
    coloured by its share of the label's row.

    Args:
        matrices: numpy array. `(labels, 2, 2)`, scikit-learn's `multilabel_confusion_matrix`.
        names: list of str. the labels.
    """
    counts = np.asarray(matrices).reshape(len(names), 4)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, (ax,) = _subplots(width=6.0, height=min(max(3.0, 0.3 * len(names) + 1.5), MAX_INCHES))
    ax.imshow(shares, cmap="Blues", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(4), labels=["TN", "FP", "FN", "TP"])
    ax.set_yticks(range(len(names)), labels=list(names), fontsize="small" if len(names) > 20 else None)
    if len(names) <= 40:  # beyond, the numbers would not fit; the table beside the figure has them
        for i, row in enumerate(counts):
            for j, value in enumerate(row):
                ax.text(j, i, str(int(value)), ha="center", va="center", fontsize="small",
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_title("outcomes per label (colour: share of the label's texts)")
    fig.tight_layout()
    return fig


def plot_comparison(rows: list):
    """Accuracy, micro- and macro-F1 of each model, grouped by score.

    Args:
        rows: list of dict. one per model: `model`, `accuracy`, `micro_f1`, `macro_f1`.
    """
    fig, (ax,) = _subplots()
    x = np.arange(len(SCORES))
    width = 0.8 / max(len(rows), 1)
    for i, row in enumerate(rows):
        ax.bar(x + (i - (len(rows) - 1) / 2) * width, [row[key] for key, _ in SCORES], width,
               label=str(row["model"]))
    ax.set_xticks(list(x), labels=[name for _, name in SCORES])
    ax.set_ylim(0, 1)
    ax.set_title("the model and the baselines on the same data")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig

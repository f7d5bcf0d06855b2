"""Figures of training and evaluation: the learning-rate finder's curve, per-step or per-epoch
histories, the confusion matrix and bars per class.

These functions only draw; what they draw is computed elsewhere. Each returns a matplotlib
`Figure` (shown inline in notebooks) and saves it when given `save_path`. They work headless.
"""

from __future__ import annotations

import numpy as np

MARKERS = {"valley": "o", "steep": "^", "minimum": "s"}


def _figure():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    return fig, ax


def _finish(fig, save_path):
    fig.tight_layout()
    if save_path:
        fig.savefig(save_path, dpi=100)
    return fig


def plot_lr_find(result, suggest: bool = True, n_skip_beginning: int = 0, n_skip_end: int = 0,
                 save_path: str | None = None):
    """Smoothed loss against learning rate (log scale), suggestions marked.

    Args:
        result: LRFindResult. what `lr_find` measured.
        suggest: bool. mark each suggested rate on the curve.
        n_skip_beginning, n_skip_end: int. points left out at either end.
        save_path: str or None. also write the figure to this file.
    """
    end = len(result.lrs) - n_skip_end
    lrs = np.asarray(result.lrs[n_skip_beginning:end])
    losses = np.asarray(result.smoothed[n_skip_beginning:end])
    fig, ax = _figure()
    ax.plot(lrs, losses, color="tab:blue", label="smoothed loss")
    ax.set_xscale("log")
    finite = losses[np.isfinite(losses)]
    if len(finite) > 1:
        # Frame the informative part: the climb at the end leaves the frame instead of
        # flattening everything before it.
        lowest = int(np.argmin(finite))
        top = max(finite[0], finite[: lowest + 1].max())
        span = max(top - finite.min(), 1e-3 * abs(top))
        ax.set_ylim(finite.min() - 0.1 * span, top + 0.5 * span)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate finder")
    if suggest and len(lrs):
        for name, lr in result.suggestions.items():
            y = float(np.interp(np.log(lr), np.log(lrs), losses))
            ax.plot([lr], [y], MARKERS.get(name, "x"), markersize=8, label=f"{name}: {lr:.2e}")
    ax.legend()
    return _finish(fig, save_path)


def plot_series(values, xlabel: str, ylabel: str, title: str, save_path: str | None = None, series=None,
                marker: str | None = None):
    """Line plot of one or more series against their index (steps or epochs).

    Args:
        values: list of float. the main series.
        xlabel, ylabel, title: str. axis labels and title.
        series: dict or None. further named series drawn on the same axes.
        marker: str or None. a matplotlib marker on every point (a series of one point shows
            only with one).
    """
    from matplotlib.ticker import MaxNLocator

    fig, ax = _figure()
    x = range(1, len(values) + 1)
    ax.plot(x, values, label=ylabel, marker=marker)
    for name, other in (series or {}).items():
        ax.plot(range(1, len(other) + 1), other, label=name, marker=marker)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps and epochs are whole
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if series:
        ax.legend()
    return _finish(fig, save_path)


def plot_loss_history(history: dict, save_path: str | None = None):
    """Training loss per epoch, with the validation loss when `history` (Keras' `History.history`)
    holds it."""
    extra = {"validation loss": history["val_loss"]} if "val_loss" in history else None
    return plot_series(history["loss"], "epoch", "loss", "training loss", save_path, extra, marker="o")


def plot_confusion_matrix(matrix, class_names, normalize: bool = False, save_path: str | None = None):
    """Heat map with counts (or row shares) written in the cells."""
    values = np.asarray(matrix, dtype=float)
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure()
    image = ax.imshow(values, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ticks = range(len(class_names))
    ax.set_xticks(list(ticks), labels=list(class_names), rotation=45, ha="right")
    ax.set_yticks(list(ticks), labels=list(class_names))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (share of each true class)" if normalize else ""))
    middle = values.max() / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            text = f"{values[i, j]:.2f}" if normalize else f"{int(values[i, j])}"
            ax.text(j, i, text, ha="center", va="center", color="white" if values[i, j] > middle else "black")
    return _finish(fig, save_path)


def plot_bars(names, values, ylabel: str, title: str, save_path: str | None = None):
    """One bar per name."""
    fig, ax = _figure()
    ax.bar(range(len(names)), values)
    ax.set_xticks(list(range(len(names))), labels=list(names), rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    return _finish(fig, save_path)

"""The figures of `ktbert/evaluate/plots.py`, drawn headless: what lands on the axes, and the
files `save_path` writes."""

import math

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from ktbert.evaluate.plots import plot_bars, plot_confusion_matrix, plot_lr_find, plot_series
from ktbert.train.lr_finder import LRFindResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def main_axes(fig):
    return fig.axes[0]


def assert_png(path):
    data = path.read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_SIGNATURE)


# plot_series ---------------------------------------------------------------------------------

def test_plot_series_draws_values_against_their_1_based_index():
    fig = plot_series([0.9, 0.7, 0.4], "epoch", "loss", "training loss")
    ax = main_axes(fig)
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [1, 2, 3]
    assert list(line.get_ydata()) == [0.9, 0.7, 0.4]
    assert line.get_label() == "loss"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("epoch", "loss", "training loss")
    assert ax.get_legend() is None


def test_plot_series_draws_further_named_series_with_a_legend():
    fig = plot_series([0.9, 0.7, 0.4], "epoch", "loss", "losses", series={"val_loss": [1.0, 0.8]})
    ax = main_axes(fig)
    main, val = ax.get_lines()
    assert list(val.get_xdata()) == [1, 2] and list(val.get_ydata()) == [1.0, 0.8]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["loss", "val_loss"]
    assert main.get_color() != val.get_color()


def test_plot_series_saves_a_png(tmp_path):
    path = tmp_path / "series.png"
    fig = plot_series([1, 2, 3], "step", "lr", "rate", save_path=str(path))
    assert isinstance(fig, matplotlib.figure.Figure)
    assert_png(path)


# plot_bars -----------------------------------------------------------------------------------

def test_plot_bars_draws_one_bar_per_name_at_its_value():
    fig = plot_bars(["neg", "neu", "pos"], [0.25, 0.5, 0.9], "F1", "F1 per class")
    ax = main_axes(fig)
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.25, 0.5, 0.9])
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches] == pytest.approx([0, 1, 2])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["neg", "neu", "pos"]
    assert ax.get_ylim() == (0, 1)
    assert (ax.get_ylabel(), ax.get_title()) == ("F1", "F1 per class")


def test_plot_bars_saves_a_png(tmp_path):
    path = tmp_path / "nested" / "bars.png"
    path.parent.mkdir()
    plot_bars(["a", "b"], [0.1, 0.2], "share", "shares", save_path=str(path))
    assert_png(path)


# plot_confusion_matrix -----------------------------------------------------------------------

def cell_texts(ax):
    return [(int(t.get_position()[1]), int(t.get_position()[0]), t.get_text()) for t in ax.texts]


def test_plot_confusion_matrix_writes_the_counts_in_the_cells():
    matrix = np.array([[5, 1], [2, 0]])
    fig = plot_confusion_matrix(matrix, ["neg", "pos"])
    ax = main_axes(fig)
    assert sorted(cell_texts(ax)) == [(0, 0, "5"), (0, 1, "1"), (1, 0, "2"), (1, 1, "0")]
    colours = {(int(t.get_position()[1]), int(t.get_position()[0])): t.get_color() for t in ax.texts}
    assert colours[(0, 0)] == "white" and colours[(1, 1)] == "black"  # above half the largest
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), matrix)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["neg", "pos"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["neg", "pos"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "confusion matrix")
    assert len(fig.axes) == 2  # the colour bar


def test_plot_confusion_matrix_normalize_shows_each_true_classes_shares():
    matrix = np.array([[3, 1, 0], [0, 0, 0], [1, 1, 2]])
    fig = plot_confusion_matrix(matrix, ["a", "b", "c"], normalize=True)
    ax = main_axes(fig)
    assert sorted(cell_texts(ax)) == [
        (0, 0, "0.75"), (0, 1, "0.25"), (0, 2, "0.00"),
        (1, 0, "0.00"), (1, 1, "0.00"), (1, 2, "0.00"),  # a class never seen stays at 0
        (2, 0, "0.25"), (2, 1, "0.25"), (2, 2, "0.50"),
    ]
    np.testing.assert_allclose(ax.get_images()[0].get_array(), [[0.75, 0.25, 0], [0, 0, 0], [0.25, 0.25, 0.5]])
    assert ax.get_title() == "confusion matrix (share of each true class)"


def test_plot_confusion_matrix_saves_a_png(tmp_path):
    path = tmp_path / "confusion.png"
    plot_confusion_matrix([[1, 0], [0, 1]], ["x", "y"], save_path=str(path))
    assert_png(path)


# plot_lr_find --------------------------------------------------------------------------------

def finder_result(suggestions=None):
    lrs = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    smoothed = [1.0, 0.9, 0.6, 0.3, 0.5, 3.0]
    return LRFindResult(lrs=lrs, losses=list(smoothed), smoothed=smoothed, stop_reason="completed",
                        suggestions={"valley": 1e-4, "minimum": 1e-3} if suggestions is None else suggestions)


def test_plot_lr_find_draws_the_smoothed_loss_on_a_log_scale():
    fig = plot_lr_find(finder_result(), suggest=False)
    ax = main_axes(fig)
    (curve,) = ax.get_lines()
    assert list(curve.get_xdata()) == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
    assert list(curve.get_ydata()) == [1.0, 0.9, 0.6, 0.3, 0.5, 3.0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["smoothed loss"]
    # framed on the informative part: the climb to 3.0 at the end leaves the frame
    bottom, top = ax.get_ylim()
    assert bottom == pytest.approx(0.3 - 0.1 * 0.7) and top == pytest.approx(1.0 + 0.5 * 0.7)


def test_plot_lr_find_marks_each_suggestion_on_the_curve():
    fig = plot_lr_find(finder_result())
    ax = main_axes(fig)
    curve, valley, minimum = ax.get_lines()
    assert (valley.get_label(), valley.get_marker()) == ("valley: 1.00e-04", "o")
    assert (minimum.get_label(), minimum.get_marker()) == ("minimum: 1.00e-03", "s")
    assert list(valley.get_xdata()) == [1e-4] and list(valley.get_ydata()) == pytest.approx([0.6])
    assert list(minimum.get_xdata()) == [1e-3] and list(minimum.get_ydata()) == pytest.approx([0.3])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "smoothed loss", "valley: 1.00e-04", "minimum: 1.00e-03"]


def test_a_suggestion_between_measured_rates_sits_on_the_curve_in_log_space():
    rate = math.sqrt(1e-4 * 1e-3)  # halfway between 1e-4 and 1e-3 on the log scale
    fig = plot_lr_find(finder_result({"steep": rate, "slide": 1e-2}))
    _, steep, slide = main_axes(fig).get_lines()
    assert steep.get_marker() == "^" and list(steep.get_ydata()) == pytest.approx([(0.6 + 0.3) / 2])
    assert slide.get_marker() == "x" and slide.get_label() == "slide: 1.00e-02"


def test_plot_lr_find_skips_points_at_either_end():
    fig = plot_lr_find(finder_result(), suggest=False, n_skip_beginning=1, n_skip_end=2)
    (curve,) = main_axes(fig).get_lines()
    assert list(curve.get_xdata()) == [1e-5, 1e-4, 1e-3]
    assert list(curve.get_ydata()) == [0.9, 0.6, 0.3]


def test_plot_lr_find_saves_a_png(tmp_path):
    path = tmp_path / "lr_find.png"
    plot_lr_find(finder_result(), save_path=str(path))
    assert_png(path)

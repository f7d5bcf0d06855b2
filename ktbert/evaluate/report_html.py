"""The report's page: `ReportData` laid out as one self-contained HTML file.

Figures are matplotlib's, embedded as base64 PNG; the page loads nothing (its Content Security
Policy forbids any request and any script) and reads without JavaScript. Every text that comes
from the data or the user goes through `html.escape`, so a text holding markup shows as text.
"""

from __future__ import annotations

import base64
import html
import io
import math
import struct

from ktbert.evaluate import plots, report_figures

DPI = 100
# No request, no script: images only from data: URIs, styles only from this page.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; }
figure { margin: 1em 0; }
.note { color: #555; }
.example { border: 1px solid #ddd; border-radius: 4px; padding: 0.5em 0.8em; margin: 0.8em 0; }
.example .text { white-space: pre-wrap; overflow-wrap: anywhere; }
nav a { margin-right: 1em; }
"""


def escape(value) -> str:
    """Any value as HTML text, quotes included."""
    return html.escape(str(value), quote=True)


def number(value, digits: int = 4) -> str:
    """An int as is, a float rounded, NaN as a dash."""
    if isinstance(value, bool) or value is None:
        return escape(value)
    if isinstance(value, float) or hasattr(value, "dtype") and value.dtype.kind == "f":
        return "&ndash;" if math.isnan(value) else f"{float(value):.{digits}f}"
    return escape(value)


def figure(fig, alt: str, caption: str | None = None) -> str:
    """A matplotlib figure as an inline PNG `<figure>`; the figure is closed (so a notebook does
    not show it too)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    png = buffer.getvalue()
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk: the size as drawn
    data = base64.b64encode(png).decode("ascii")
    caption_html = f"<figcaption class=\"note\">{escape(caption)}</figcaption>" if caption else ""
    return (f'<figure><img src="data:image/png;base64,{data}" width="{width}" height="{height}" '
            f'alt="{escape(alt)}">{caption_html}</figure>')


def table(header, rows, table_id: str | None = None, row_headers: bool = True) -> str:
    """An HTML table; cells are escaped (numbers formatted), the first of each row a `<th>` when
    `row_headers`; no header row when `header` is None."""
    head = "" if header is None else "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr></thead>"
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            if i == 0 and row_headers:
                cells.append(f"<th>{escape(cell)}</th>")
            elif isinstance(cell, str):
                cells.append(f"<td>{escape(cell)}</td>")
            else:
                cells.append(f'<td class="number">{number(cell)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f"<table{ident}>{head}<tbody>{''.join(body)}</tbody></table>"


def section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


# === Sections ===
def _about(data) -> str:
    return table(None, [(name, str(value)) for name, value in data.about], table_id="about")


def _scores(data) -> str:
    accuracy = "exact-match accuracy" if data.multilabel else "accuracy"
    return table(["score", "value"], [(accuracy, data.scores["accuracy"]), ("micro-F1", data.scores["micro_f1"]),
                                      ("macro-F1", data.scores["macro_f1"])])


def _per_class(data) -> str:
    rows = []
    for name, values in data.per_class.items():
        if isinstance(values, dict):
            rows.append((name, values["precision"], values["recall"], values["f1-score"], int(values["support"])))
    return table(["class", "precision", "recall", "F1", "support"], rows, table_id="per-class")


def _confusion(data) -> str:
    if data.multilabel:
        rows = [(name, *(int(v) for v in m.ravel())) for name, m in zip(data.class_names, data.confusion)]
        drawn = figure(report_figures.plot_label_outcomes(data.confusion, data.class_names), "outcomes per label")
        note = "<p class=\"note\">Per label: true negatives, false positives, false negatives, true positives.</p>"
        return drawn + note + table(["label", "TN", "FP", "FN", "TP"], rows, table_id="confusion-matrix")
    drawn = figure(plots.plot_confusion_matrix(data.confusion, data.class_names), "confusion matrix")
    rows = [(name, *(int(v) for v in row)) for name, row in zip(data.class_names, data.confusion)]
    note = "<p class=\"note\">Rows are the true classes, columns the predicted ones.</p>"
    return drawn + note + table(["true \\ predicted", *data.class_names], rows, table_id="confusion-matrix")


def _calibration(data) -> str:
    c = data.calibration
    if c.applied:
        said = (f"The model divides its logits by the temperature T={c.temperature:.3f} (fitted by "
                "<code>calibrate</code>).")
    else:
        said = (f"The model applies no temperature. T={c.temperature:.3f} is fitted on this data to show what "
                "<code>calibrate()</code> would change: fit it on validation data to apply it.")
    text = (f"<p>Expected calibration error {c.ece_before:.4f} before temperature scaling, {c.ece_after:.4f} "
            f"after. {said}</p>")
    drawn = figure(report_figures.plot_reliability(c), "reliability diagrams before and after temperature scaling")
    return text + drawn


def _thresholds(data) -> str:
    if data.threshold_curve is not None:
        curve = data.threshold_curve
        how = ("the threshold set on the model" if curve["tuned"]
               else "no threshold is set: the most probable class wins, as a threshold of 0.5 would")
        return (f"<p>Decisions on the probability of {escape(curve['positive'])}: {how} "
                f"({curve['threshold']:.2f}, dashed).</p>"
                + figure(report_figures.plot_threshold_curve(curve), "precision and recall against the threshold"))
    rows = data.label_thresholds
    return (figure(report_figures.plot_label_thresholds(rows), "F1 and threshold per label")
            + table(["label", "threshold", "precision", "recall", "F1", "support"],
                    [(r["label"], r["threshold"], r["precision"], r["recall"], r["f1-score"], int(r["support"]))
                     for r in rows], table_id="label-thresholds"))


def _label(value) -> str:
    """A class name, or a multi-label row's names ("(none)" for no label)."""
    return (", ".join(value) or "(none)") if isinstance(value, list) else str(value)


def _top_losses(data) -> str:
    parts = [f'<p class="note" id="texts-note">{escape(data.texts_note)}</p>']
    for rank, row in enumerate(data.top_losses, 1):
        head = (f"<p><b>#{rank}</b> (example {row['index']}): loss {row['loss']:.4f}, true "
                f"<b>{escape(_label(row['true']))}</b>, predicted <b>{escape(_label(row['predicted']))}</b></p>")
        if row["explanation"] is not None:
            body = row["explanation"].html()
            scored = len(row["explanation"].words)
            if row["words"] > scored:
                body += f'<p class="note">Only the first {scored} of {row["words"]} words are shown and scored.</p>'
        elif row["text"] is not None:
            body = f'<p class="text">{escape(row["text"])}</p>'
        else:
            body = '<p class="note">The data holds no texts: pass <code>preproc</code> to show them.</p>'
        parts.append(f'<div class="example">{head}{body}</div>')
    return "".join(parts)


def _training(data) -> str:
    curves, parts = data.training, []
    if curves.history.get("loss"):
        parts.append(figure(plots.plot_loss_history(curves.history), "training and validation loss per epoch"))
    if curves.lr:
        parts.append(figure(plots.plot_series(curves.lr, "step", "learning rate", "learning rate per step"),
                            "learning rate per step"))
    if curves.lr_find is not None:
        parts.append(figure(plots.plot_lr_find(curves.lr_find), "learning-rate finder"))
    return "".join(parts) or '<p class="note">No fit was recorded.</p>'


def _comparison(data) -> str:
    rows = data.comparison
    columns = [key for key in rows[0] if key != "model"]
    return (table(["model", *columns], [(row["model"], *(row[k] for k in columns)) for row in rows],
                  table_id="comparison")
            + figure(report_figures.plot_comparison(rows), "the model and the baselines"))


def render(data) -> str:
    """The page of a `ktbert.evaluate.report_data.ReportData`, as a string."""
    sections = [("about", "What was evaluated", _about), ("scores", "Scores", _scores),
                ("per-class", "Per class", _per_class), ("confusion", "Confusion matrix", _confusion),
                ("calibration", "Calibration", _calibration)]
    if data.threshold_curve is not None:
        sections.append(("thresholds", "Precision and recall against the threshold", _thresholds))
    elif data.label_thresholds is not None:
        sections.append(("thresholds", "Per-label thresholds and F1", _thresholds))
    sections.append(("top-losses", "Top losses", _top_losses))
    if data.training is not None:
        sections.append(("training", "Training", _training))
    if data.comparison:
        sections.append(("baselines", "Baselines", _comparison))
    nav = "".join(f'<a href="#{anchor}">{escape(title)}</a>' for anchor, title, _ in sections)
    body = "".join(section(anchor, title, make(data)) for anchor, title, make in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(data.title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{escape(data.title)}</h1><nav>{nav}</nav>{body}</body></html>\n")

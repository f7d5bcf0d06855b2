"""The tutorial notebook runs from top to bottom on a small slice of real data.

`examples/tutorial.ipynb` is executed with nbclient in a fresh Python 3 kernel, in a temporary
folder, on 200 SST-2 sentences at maxlen 32 (its `KTBERT_TUTORIAL_*` variables), and the tests
read what its cells showed, found by their tags. It trains the real encoder for one short epoch:
a few minutes on 2 CPU cores. Skips with the reason when ../shared/data, the default encoder or
the notebook tools (the `test` extra) are absent.
"""

import os
import re

import pytest

from helpers import PROJECT, default_encoder_or_skip, shared_path

pytestmark = pytest.mark.integration

NOTEBOOK = os.path.join(PROJECT, "examples", "tutorial.ipynb")
ROWS = 200
MAXLEN = 32
CELL_TIMEOUT_S = 600


def cell_tagged(notebook, tag):
    cells = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"the notebook must have one cell tagged {tag!r}; found {len(cells)}"
    return cells[0]


def printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def shown(cell, mime: str) -> list:
    return [o.data[mime] for o in cell.outputs
            if o.output_type in ("display_data", "execute_result") and mime in o.data]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after running every cell, with the kernel's working folder a temporary one."""
    default_encoder_or_skip()
    shared_path("sst2", "train.tsv")
    data = os.path.dirname(os.path.dirname(shared_path("sst2", "dev.tsv")))
    reason = "the notebook tools are not installed: pip install -e '.[test]' (nbclient, nbformat, ipykernel)"
    nbformat = pytest.importorskip("nbformat", reason=reason)
    nbclient = pytest.importorskip("nbclient", reason=reason)
    pytest.importorskip("ipykernel", reason=reason)

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    folder = tmp_path_factory.mktemp("tutorial")
    with pytest.MonkeyPatch.context() as env:  # the kernel inherits this process's environment
        env.setenv("KTBERT_TUTORIAL_DATA", os.path.abspath(data))
        env.setenv("KTBERT_TUTORIAL_ROWS", str(ROWS))
        env.setenv("KTBERT_TUTORIAL_MAXLEN", str(MAXLEN))
        env.setenv("PYTHONPATH", PROJECT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                         resources={"metadata": {"path": str(folder)}})
        client.execute()  # raises CellExecutionError, with the cell and its traceback, on an error
    return notebook, folder


def test_the_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed: pip install -e '.[test]'")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c for c in code if c.outputs or c.execution_count is not None] == []


def test_every_cell_runs_without_error(executed):
    notebook, folder = executed
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    assert sorted(os.listdir(folder)) == ["sst2_predictor"]  # it writes where it runs, nowhere else


def test_lr_find_cell_draws_the_curve_inline(executed):
    notebook, _ = executed
    cell = cell_tagged(notebook, "lr-find")
    images = shown(cell, "image/png")
    assert len(images) == 1  # once: the returned figure is not drawn a second time
    assert len(images[0]) > 1000


def test_validate_cell_prints_the_report_with_accuracy(executed):
    notebook, _ = executed
    text = printed(cell_tagged(notebook, "validate"))
    assert re.search(r"^\s*negative\s", text, re.M) and re.search(r"^\s*positive\s", text, re.M)
    accuracy = re.search(r"^\s*accuracy\s+(\d\.\d{4})\s+(\d+)\s*$", text, re.M)
    assert accuracy, text
    assert 0.0 <= float(accuracy.group(1)) <= 1.0
    assert int(accuracy.group(2)) == ROWS  # every validation sentence was scored
    assert "expected calibration error" in text


def test_confusion_matrix_is_drawn(executed):
    notebook, _ = executed
    assert len(shown(cell_tagged(notebook, "confusion"), "image/png")) == 1


def test_top_losses_cell_prints_three_texts(executed):
    notebook, _ = executed
    text = printed(cell_tagged(notebook, "top-losses"))
    rows = re.findall(r"^id \d+ \| loss \d+\.\d{4} \| true: (\w+) \| predicted: (\w+)$", text, re.M)
    assert len(rows) == 3
    assert {label for row in rows for label in row} <= {"negative", "positive"}


def test_explanation_is_rendered_inline_as_html(executed):
    notebook, _ = executed
    html = shown(cell_tagged(notebook, "explain"), "text/html")
    assert len(html) == 1
    assert html[0].count("<span") == len("a gripping , beautifully acted film with a tired ending".split())
    assert "probability" in html[0]


def test_reloaded_predictor_gives_the_same_probabilities(executed):
    notebook, folder = executed
    text = printed(cell_tagged(notebook, "reload"))
    found = re.search(r"reloaded predictor: same probabilities \(largest difference (\S+)\)", text)
    assert found, text
    assert float(found.group(1)) <= 1e-6
    assert os.path.isfile(os.path.join(folder, "sst2_predictor", "ktbert.json"))


def test_predict_cell_labels_every_text(executed):
    notebook, _ = executed
    lines = printed(cell_tagged(notebook, "predict")).strip().splitlines()
    assert len(lines) == 3
    assert {line.split()[0] for line in lines} <= {"negative", "positive"}

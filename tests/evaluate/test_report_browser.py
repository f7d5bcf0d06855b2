"""The HTML report opened in a real browser: headless chromium driven by selenium.

It opens with no console error and no network request, every figure renders with a size, the
confusion matrix on the page is `validate`'s, and a text holding `<script>alert(1)</script>` shows
as text and runs nothing. Needs Debian's `chromium` and `chromium-driver` and `pip install
selenium`; skipped, saying so, where any is missing (`tests/browser.py`).
"""

import numpy as np
import pytest

import ktbert
from browser import console_problems, requested_urls, start_chromium
from helpers import report_learner

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def driver():
    browser = start_chromium()
    yield browser
    browser.quit()


@pytest.fixture(scope="module")
def report(driver, tiny_encoder, tmp_path_factory):
    """A report of a trained tiny model (lr_find run, a baseline compared) opened in `driver`;
    `(learner, preproc)`."""
    learner, trn, val, preproc = report_learner(tiny_encoder, SCRIPT)
    comparison = ktbert.compare(trn, val, preproc, learner=learner, baselines=("tfidf",))
    path = tmp_path_factory.mktemp("browser") / "report.html"
    learner.report(str(path), preproc=preproc, comparison=comparison, max_texts=30, max_explained=2)
    driver.get(path.as_uri())
    return learner, preproc


def test_the_report_opens_with_no_console_error_and_no_request(driver, report):
    assert console_problems(driver) == []
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    page = driver.current_url
    requested = requested_urls(driver)
    assert page in requested  # the log holds the page's own load
    assert [url for url in requested if url != page and not url.startswith("data:")] == []


def test_every_figure_renders_with_a_size(driver, report):
    from selenium.webdriver.common.by import By

    images = driver.find_elements(By.TAG_NAME, "img")
    assert len(images) == 7  # confusion, reliability, threshold, loss, rate, lr_find, baselines
    for image in images:
        name = image.get_attribute("alt")
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0, name
        box = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]",
                                    image)
        assert box[0] > 100 and box[1] > 100, name


def test_the_confusion_matrix_on_the_page_is_validate_s(driver, report):
    from selenium.webdriver.common.by import By

    learner, preproc = report
    rows = driver.find_elements(By.CSS_SELECTOR, "#confusion-matrix tbody tr")
    shown = [[int(cell.text) for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    np.testing.assert_array_equal(shown, learner.validate(print_report=False, preproc=preproc))


def test_a_text_holding_a_script_shows_as_text_and_runs_nothing(driver, report):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018  (reading it is the check)
    assert driver.execute_script("return document.scripts.length") == 0
    shown = [e for e in driver.find_elements(By.CSS_SELECTOR, "#top-losses .example") if SCRIPT in e.text]
    assert len(shown) == 1 and shown[0].is_displayed()

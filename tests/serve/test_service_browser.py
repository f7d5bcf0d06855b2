"""The service's page and /docs in a real browser (headless chromium, selenium): type a text,
submit, see the label `predict` gives and its explanation; /docs renders with no network."""

import pytest

import ktbert
from browser import console_problems, requested_urls, start_chromium
from helpers import running
from ktbert.serve.service import create_app

pytestmark = pytest.mark.browser

SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def predictor(trained_sentiment):
    learner, _, _, preproc = trained_sentiment
    return ktbert.get_predictor(learner.model, preproc)


@pytest.fixture(scope="module")
def site(predictor):
    driver = start_chromium()
    try:
        with running(create_app(predictor, name="sentiment")) as url:
            yield driver, url
    finally:
        driver.quit()


def wait_for(driver, selector: str, count: int = 1):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 60).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, selector)) >= count)
    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_typing_texts_shows_the_labels_predict_gives(site, predictor):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver, url = site
    driver.get(url)
    texts = ["the film was great and wonderful", "awful plot, i hate it", f"the film was {SCRIPT} good"]
    driver.find_element(By.ID, "texts").send_keys("\n".join(texts))
    driver.find_element(By.ID, "classify").click()
    cards = wait_for(driver, "#results .card", len(texts))
    assert [c.find_element(By.CLASS_NAME, "label").text for c in cards] == predictor.predict(texts)
    assert [c.find_element(By.CLASS_NAME, "text").text for c in cards] == texts  # markup shown as text
    for card, row in zip(cards, predictor.predict(texts, return_proba=True)):
        values = [float(v.text) for v in card.find_elements(By.CLASS_NAME, "value")]
        assert values == pytest.approx(row.tolist(), abs=1e-3)
        widths = [b.size["width"] for b in card.find_elements(By.CLASS_NAME, "bar")]
        assert len(widths) == 2 and widths[int(row.argmax())] > widths[int(row.argmin())]
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert  # noqa: B018  (reading it is the check)
    cards[0].find_element(By.CLASS_NAME, "explain").click()
    words = wait_for(driver, "#results .card .words span")
    assert [w.text for w in words] == texts[0].split()
    assert console_problems(driver) == []
    assert [u for u in requested_urls(driver) if not u.startswith(url)] == []


def test_docs_render_with_no_network(site):
    driver, url = site
    requested_urls(driver)  # drops what earlier tests requested
    driver.get(f"{url}/docs")
    operations = wait_for(driver, ".swagger-ui .opblock", 3)  # /predict, /explain, /health
    assert {op.get_attribute("id") for op in operations} >= {"operations-default-predict_predict_post"}
    requested = requested_urls(driver)
    assert f"{url}/openapi.json" in requested
    assert [u for u in requested if not (u.startswith(url) or u.startswith("data:"))] == []


def test_a_service_with_a_key_is_used_from_its_page_with_the_key_typed(site, predictor):
    from selenium.webdriver.common.by import By

    driver, _ = site
    key = "browser-test-key_0123456789abcdef"
    with running(create_app(predictor, name="sentiment", api_key=key)) as url:
        driver.get(url)
        driver.find_element(By.ID, "texts").send_keys("the film was great")
        driver.find_element(By.ID, "classify").click()
        wait_for(driver, "#error:not(:empty)")
        assert driver.find_element(By.ID, "error").text.startswith("this service needs an API key:")
        driver.find_element(By.ID, "api-key").send_keys(key)
        driver.find_element(By.ID, "classify").click()
        cards = wait_for(driver, "#results .card")
        assert [c.find_element(By.CLASS_NAME, "label").text for c in cards] == predictor.predict(["the film was great"])
        cards[0].find_element(By.CLASS_NAME, "explain").click()
        assert [w.text for w in wait_for(driver, "#results .card .words span")] == "the film was great".split()

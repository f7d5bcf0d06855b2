"""Headless chromium for the browser tests (the report, the service's page and /docs), or a
pytest skip saying what is missing: Debian's `chromium` and `chromium-driver`, and selenium."""

import json
import shutil

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def start_chromium():
    """A headless chromium that records console messages and network events, or a pytest skip."""
    import pytest

    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed: pip install selenium")
    binary = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        missing = "chromium" if binary is None else "chromedriver"
        pytest.skip(f"{missing} is not installed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # The driver named, so selenium never looks for (or downloads) one of its own.
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))


def requested_urls(driver) -> list:
    """The URLs the browser requested since the performance log was last read."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_problems(driver) -> list:
    """Console errors and warnings since the browser log was last read."""
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]

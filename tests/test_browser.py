"""The web page in headless Chromium (Debian's chromium and chromium-driver, driven by
Selenium): upload a photo, see a label and a caption; type a sentence, see its translation."""

import shutil

import pytest

pytest.importorskip("fastapi", reason="dlkit serve needs the [serve] extra: pip install -e '.[serve]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")

from conftest import PHOTOS, need, tiny_stylizer  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="no chromium / chromedriver on PATH (apt-get install chromium chromium-driver)")]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from dlkit.core import runtime
    from dlkit.serve.app import create_app
    from dlkit.serve.server import background, load_predictors

    need(PHOTOS)
    runtime.setup("cpu")
    stylizer = tiny_stylizer(tmp_path_factory.mktemp("served") / "mosaic.keras")
    app = create_app(load_predictors(("classify", "caption", "translate", "sentiment", "geolocate", "stylize"),
                                     {"stylize": stylizer}))
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    with background(app) as url:
        browser = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
        try:
            browser.get(url)
            yield browser
        finally:
            browser.quit()


def test_the_stylized_panel_shows_only_once_it_has_a_picture(page):
    """Before any upload the page shows no Stylized panel (an <img> without a picture is
    a broken image); after one, the painted photo."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _text_of(page, "#served", lambda t: "stylize" in t)
    assert not page.find_element(By.ID, "stylized-box").is_displayed()
    page.find_element(By.ID, "photo").send_keys(str((PHOTOS / "chelsea.png").resolve()))
    WebDriverWait(page, 90).until(lambda b: b.find_element(By.ID, "stylized-box").is_displayed())
    image = page.find_element(By.ID, "stylized")
    assert image.get_attribute("src").startswith("data:image/")
    assert page.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) > 0


def _text_of(browser, selector, ready, timeout=90):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # The page redraws a list as each answer arrives: an element read while it is
    # replaced is read again.
    return WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: next((e.text for e in b.find_elements(By.CSS_SELECTOR, selector) if ready(e.text)), None))


def test_a_photo_gets_labels_and_a_caption(page):
    from selenium.webdriver.common.by import By

    _text_of(page, "#served", lambda t: "classify" in t)  # the page knows what is served
    page.find_element(By.ID, "photo").send_keys(str((PHOTOS / "chelsea.png").resolve()))  # the driver wants a canonical path
    label = _text_of(page, "#labels td.label", bool)
    assert label in {"tabby", "tiger_cat", "Egyptian_cat"}
    caption = _text_of(page, "#caption", lambda t: t not in ("", "…", "—"))
    assert caption.endswith(".") and len(caption.split()) >= 3
    assert not page.find_elements(By.CSS_SELECTOR, ".error")


def test_a_sentence_gets_its_translation_sentiment_and_place(page):
    from selenium.webdriver.common.by import By

    box = page.find_element(By.ID, "text")
    box.clear()
    box.send_keys("I am hungry.")
    page.find_element(By.ID, "go-text").click()
    assert "faim" in _text_of(page, "#translation li", lambda t: t not in ("", "…")).lower()
    assert _text_of(page, "#sentiment li", lambda t: t not in ("", "…")).split()[0] in {"positive", "negative"}
    _text_of(page, "#geo li", lambda t: t not in ("", "…"))
    assert page.find_elements(By.CSS_SELECTOR, "#dots circle")  # the place is on the map

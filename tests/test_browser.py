"""The demo in a real browser: Debian's chromium driven by Playwright against `python app.py` (tiny model).

Load the page, press Sample, watch x_t change while it runs, get the final images, scrub the step slider.
A screenshot goes to tests/artifacts/. Skipped only when chromium itself is missing (CI installs it)."""

import shutil
from pathlib import Path

import pytest

from app_server import save_tiny_pipeline, serve_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 300_000  # generous for busy CI machines; never reached when things work

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip(f"chromium not found at {CHROMIUM} (install it: apt-get install chromium, as scripts/test.sh does)",
                allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (after the skip: a clear reason beats an ImportError)

# Records every src the x_t image takes, with the status text at that moment, from before the click on.
WATCH_XT = """() => {
  window.__xt = [];
  const look = () => {
    const img = document.querySelector('#xt-image img');
    const status = document.querySelector('#status textarea');
    const last = window.__xt[window.__xt.length - 1];
    if (img && img.src && (!last || last.src !== img.src))
      window.__xt.push({src: img.src, status: status ? status.value : ''});
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     attributeFilter: ['src']});
}"""


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    model = save_tiny_pipeline(tmp_path_factory.mktemp("tiny-ddpm") / "model")
    with serve_app(model, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield url


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        browser.close()


def set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_sample_streams_steps_then_the_slider_scrubs_them(page, app_url):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(app_url)
    page.wait_for_selector("#sample-button")
    set_slider(page, "num-steps", 30)
    set_slider(page, "num-images", 4)
    page.evaluate(WATCH_XT)

    page.click("#sample-button")
    page.wait_for_function("() => document.querySelector('#status textarea').value.includes('done')")

    seen = page.evaluate("window.__xt")
    while_running = {entry["src"] for entry in seen if "done" not in entry["status"]}
    assert len(while_running) >= 3, seen  # x_t appeared and then changed at least twice before the run ended
    page.wait_for_function("() => document.querySelectorAll('#final-images img').length === 4")

    # The finish event enables the slider over the run's 30 steps; moving it shows that step's x_t.
    slider = page.locator("#step-slider input[type=range]")
    page.wait_for_function("() => { const s = document.querySelector('#step-slider input[type=range]');"
                           " return s && !s.disabled && s.max === '30'; }")
    final_src = page.locator("#xt-image img").get_attribute("src")
    slider.fill("5")
    page.wait_for_function(f"() => document.querySelector('#xt-image img').src !== {final_src!r}")
    page.wait_for_function("() => document.querySelector('#status textarea').value.startsWith('step 5 / 30')")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-sample.png"), full_page=True)
    # Offline: the page loaded nothing from anywhere but the app itself (no fonts, CDNs or analytics).
    outside = [url for url in requests if not url.startswith((app_url, "data:", "blob:"))]
    assert outside == []

"""The demo in a real browser: Debian's chromium driven by Playwright against `python app.py` (tiny model).

Load the page, press Sample, watch x_t change while it runs, get the final images, scrub the step slider; open
"Why do we need p_θ?", pick a digit and see the three estimates; open "Exact posterior sampler", see the cost
plot, sample with both samplers and see their galleries. Screenshots go to tests/artifacts/. Skipped only when
chromium itself is missing (CI installs it)."""

import os
import shutil
from pathlib import Path

import pytest

from helpers.app_server import serve_app
from pipelines.toy2d.plots import PLANE_HEIGHT, PLANE_WIDTH, plane_to_pixel
from ui import TABS

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
TIMEOUT_MS = 300_000  # generous for busy CI machines; never reached when things work

if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
    pytest.skip(
        f"chromium not found at {CHROMIUM} (install it: apt-get install chromium, as scripts/test.sh does)",
        allow_module_level=True,
    )

from playwright.sync_api import sync_playwright  # noqa: E402  (after the skip: a clear reason beats an ImportError)

# Records every src the x_t image takes, with the status text at that moment, from before the click on.
WATCH_XT = """() => {
  window.__xt = [];
  const look = () => {
    const img = document.querySelector('#xt-image img');
    const status = document.querySelector('#status textarea');
    const last = window.__xt[window.__xt.length - 1];
    if (img && img.src && (!last || last.src !== img.src)) {
      // Seen, not merely sent: what the browser shows at the picture's centre is the picture (no overlay on it).
      const r = img.getBoundingClientRect();
      const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
      const seen = !!hit && (hit === img || img.contains(hit) || hit.contains(img));
      const bar = document.querySelector('#final-images .progress-level-inner, #final-images .progress-text');
      window.__xt.push({src: img.src, status: status ? status.value : '', seen, bar: bar ? bar.innerText : null});
    }
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     attributeFilter: ['src']});
}"""


@pytest.fixture(scope="module")
def app_url(app_model_dir, tmp_path_factory):
    """The app on the tiny test model; DDPM_SCREENSHOT_MODEL=models/ddpm-mnist serves the shipped model instead, for
    screenshots a person reads (`pytest tests/app/test_browser.py -k every_tab` with it set)."""
    # No frame throttle: the live view sends every step's frame, so what the page shows is known in advance.
    with serve_app(
        os.environ.get("DDPM_SCREENSHOT_MODEL") or app_model_dir,
        "--frame-interval-s",
        "0",
        "--frame-budget",
        "1",
        log_path=tmp_path_factory.mktemp("log") / "app.log",
    ) as url:
        yield url


@pytest.fixture
def page():
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
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
    # The first look (a run recorded at the defaults) fills the pictures on load: wait for it, so that the watched
    # pictures are the click's.
    page.wait_for_function("() => document.querySelector('#status textarea').value.includes('recorded')")
    K = 6
    set_slider(page, "num-steps", K)
    set_slider(page, "num-images", 4)
    page.evaluate(WATCH_XT)

    page.click("#sample-button")
    page.wait_for_function("() => document.querySelector('#status textarea').value.includes('done')")

    # Unthrottled, the server streams steps 1 … K − 1 (then the last one with the results): the page showed each,
    # in order, each its own x_t picture.
    seen = page.evaluate("window.__xt")
    # (not the first look's pictures, there when the watch began)
    while_running = [entry for entry in seen if "done" not in entry["status"] and "recorded" not in entry["status"]]
    assert [entry["status"].split(",")[0] for entry in while_running] == [f"step {k} / {K}" for k in range(1, K)], seen
    assert len({entry["src"] for entry in while_running}) == K - 1, seen
    assert all(entry["seen"] for entry in while_running), seen  # no progress overlay over the live x_t
    # One step counter: the status box; no progress bar counts steps of its own (it ran ahead of the pictures).
    counters = [(entry["status"], entry["bar"]) for entry in while_running]
    assert not any(bar and "steps" in bar for _, bar in counters), counters
    page.wait_for_function("() => document.querySelectorAll('#final-images img').length === 4")
    # The final images' box is as tall as their one row: no empty area under them (gradio's fixed height left one).
    box, grid = page.evaluate(
        "() => [document.querySelector('#final-images').getBoundingClientRect().height,"
        " document.querySelector('#final-images .grid-container').getBoundingClientRect().height]"
    )
    assert box <= grid + 40, (box, grid)

    # The finish event enables the slider over the run's K steps; moving it shows that step's x_t.
    slider = page.locator("#step-slider input[type=range]")
    page.wait_for_function(
        "() => { const s = document.querySelector('#step-slider input[type=range]');"
        f" return s && !s.disabled && s.max === '{K}'; }}"
    )
    final_src = page.locator("#xt-image img").get_attribute("src")
    slider.fill("2")
    page.wait_for_function(f"() => document.querySelector('#xt-image img').src !== {final_src!r}")
    page.wait_for_function(f"() => document.querySelector('#status textarea').value.startsWith('step 2 / {K}')")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-sample.png"), full_page=True)
    # Offline: the page loaded nothing from anywhere but the app itself (no fonts, CDNs or analytics).
    outside = [url for url in requests if not url.startswith((app_url, "data:", "blob:"))]
    assert outside == []


def loaded_images(page, selector: str) -> int:
    """How many <img> under `selector` have finished loading a real picture."""
    return page.evaluate(
        f"() => [...document.querySelectorAll({selector!r})].filter(img => img.complete && img.naturalWidth > 0).length"
    )


def assert_inside(page, items: str, container: str) -> None:
    """Every element matching `items` lies within the bounding box of `container` (1 px slack): not cut off."""
    box = page.locator(container).bounding_box()
    for i in range(page.locator(items).count()):
        item = page.locator(items).nth(i).bounding_box()
        assert item is not None and box is not None, (items, i)
        assert box["x"] - 1 <= item["x"] and item["x"] + item["width"] <= box["x"] + box["width"] + 1, (items, i)
        assert box["y"] - 1 <= item["y"] and item["y"] + item["height"] <= box["y"] + box["height"] + 1, (items, i)


def assert_no_overflow(page, selector: str) -> None:
    """No element matching `selector` is wider inside than its box (scrollWidth > clientWidth: clipped text)."""
    widths = page.evaluate(
        f"() => [...document.querySelectorAll({selector!r})].map(el => [el.id, el.scrollWidth, el.clientWidth])"
    )
    assert widths and all(scroll <= client + 1 for _, scroll, client in widths), widths


def test_why_p_theta_tab_shows_the_three_estimates_of_a_picked_digit(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Why do we need p_θ?").click()
    page.wait_for_selector("#digit-gallery img")
    set_slider(page, "posterior-t", 40)
    # A click on a gallery digit picks it (digit_index follows) and runs the comparison.
    page.locator("#digit-gallery img").nth(3).click()
    # The answer's math is KaTeX: "$t = 40$" is in its TeX annotation, not in its innerText.
    page.wait_for_function("() => document.querySelector('#posterior-answer').innerHTML.includes('t = 40')")
    for elem_id in ("posterior-x0", "posterior-xt", "estimate-tractable", "estimate-exact", "estimate-model"):
        page.wait_for_function(
            f"() => {{ const img = document.querySelector('#{elem_id} img');"
            " return img && img.complete && img.naturalWidth > 0; }"
        )
    assert loaded_images(page, "#posterior-candidates img") >= 1
    for name in ("tractable", "exact", "model"):
        assert "needs" in page.locator(f"#estimate-{name}-text").inner_text()
    picked = page.locator("#digit-index input").input_value()
    assert picked not in ("", "0")  # the fourth gallery digit is not training digit #0
    # The Compare button runs it again, from the (now picked) digit_index.
    set_slider(page, "posterior-t", 900)
    page.click("#posterior-button")
    page.wait_for_function("() => document.querySelector('#posterior-answer').innerHTML.includes('t = 900')")
    page.wait_for_function(
        "() => document.querySelectorAll('#posterior-candidates img').length === 5"
        " && [...document.querySelectorAll('#posterior-candidates img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    # Every formula is rendered by KaTeX, none failed to parse.
    # (the derivation of "What training does with q" is in the answer, before the numbers that check it)
    for elem_id in ("posterior-question", "posterior-answer", "posterior-bayes", "estimate-exact-text"):
        assert page.locator(f"#{elem_id} .katex").count() > 0, elem_id
    assert page.locator(".katex-error").count() == 0
    assert "What training does with" in page.locator("#posterior-answer").inner_text()
    assert "(smallest)" in page.locator("#posterior-answer").inner_text()
    # Nothing clipped: the five candidates lie inside their strip; each estimate's picture (with its x_t-1 / x̂0
    # captions at the top) lies inside its box, no label badge over it; no text overflows sideways.
    assert_inside(page, "#posterior-candidates img", "#posterior-candidates")
    for name in ("tractable", "exact", "model"):
        assert_inside(page, f"#estimate-{name} img", f"#estimate-{name}")
        assert (
            page.locator(f"#estimate-{name} label").count() == 0
            or not page.locator(f"#estimate-{name} label").first.is_visible()
        )
    assert_no_overflow(
        page,
        "#posterior-answer, #estimate-tractable-text, #estimate-exact-text, "
        "#estimate-model-text, #training-target, #posterior-bayes",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-posterior.png"), full_page=True)


def test_exact_sampler_tab_shows_both_samplers_and_the_cost_plot(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Exact posterior sampler").click()
    # Opening the tab draws the per-step cost against N.
    page.wait_for_function(
        "() => { const img = document.querySelector('#cost-plot img');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    set_slider(page, "exact-num-images", 6)  # three rows of two: the third row must not be cut off
    set_slider(page, "exact-num-steps", 4)
    page.click("#exact-button")
    page.wait_for_function(
        "() => document.querySelector('#exact-caption').innerText.includes('6/6 samples are copies')"
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#exact-gallery img').length === 6"
        " && document.querySelectorAll('#model-gallery img').length === 6"
    )
    page.wait_for_function(
        "() => [...document.querySelectorAll('#exact-gallery img, #model-gallery img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    # the verdict is drawn above each pair; the API's caption stays in the page, hidden (it would cover the picture)
    assert "copy of #" in page.locator("#exact-gallery").text_content()
    assert not page.locator("#exact-gallery .caption-label").first.is_visible()
    for gallery in ("exact-gallery", "model-gallery"):
        assert_inside(page, f"#{gallery} img", f"#{gallery}")
    # After the run: when each exact trajectory committed, and the held-out yardstick.
    for elem_id in ("commit-plot", "distance-plot"):
        page.wait_for_function(
            f"() => {{ const img = document.querySelector('#{elem_id} img');"
            " return img && img.complete && img.naturalWidth > 0; }"
        )
    assert "held-out real digits" in page.locator("#distance-note").inner_text()
    assert page.locator("#exact-intro .katex").count() > 0 and page.locator("#commit-intro .katex").count() > 0
    assert page.locator(".katex-error").count() == 0
    assert "feasible only for toy data" in page.locator("#cost-text").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-exact.png"), full_page=True)


def test_toy_tab_draws_on_first_open_and_a_click_on_the_plane_moves_x_t(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="2-D world").click()
    page.wait_for_selector("#toy-plane img")  # drawn when the tab opens, with the shipped weights
    page.wait_for_selector("#toy-step-text table")
    before = page.locator("#toy-plane img").get_attribute("src")
    box = page.locator("#toy-plane img").bounding_box()
    column, row = plane_to_pixel(1.0, 1.0)  # the point (1, 1), where the picture draws it
    page.mouse.click(box["x"] + box["width"] * column / PLANE_WIDTH, box["y"] + box["height"] * row / PLANE_HEIGHT)
    page.wait_for_function("s => document.querySelector('#toy-plane img').src !== s", arg=before)
    assert float(page.locator("#toy-x input[type=number]").input_value()) == pytest.approx(1.0, abs=0.02)
    assert float(page.locator("#toy-y input[type=number]").input_value()) == pytest.approx(1.0, abs=0.02)
    assert "(1.00, 1.00)" in page.locator("#toy-step-text").inner_text()
    assert page.locator("#toy-model-line .katex").count() > 0  # the model line's math is rendered
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-toy.png"), full_page=True)


# ---------------------------------------------------------------------------------------------- the page guard
# Every problem a student would see on the open tab, in words: a picture, gallery item or label outside its box, a
# label badge over a picture, a picture covered at its centre (a progress overlay), a picture that did not load,
# text cut short, raw TeX outside rendered math, a formula KaTeX could not parse.
PAGE_PROBLEMS = r"""() => {
  const problems = [];
  const visible = el => el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})
    && el.getBoundingClientRect().width > 0 && el.getBoundingClientRect().height > 0;
  const root = [...document.querySelectorAll('.tabitem')].find(visible) || document.body;
  const describe = el => {
    const owner = el.closest('[id]');
    const words = (el.innerText || el.alt || el.getAttribute('aria-label') || '').trim().slice(0, 40);
    return `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${words}" in #${owner ? owner.id : '?'}`;
  };
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1
    && a.bottom <= b.bottom + 1;
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  const pageWidth = document.documentElement.clientWidth;
  const labels = '[data-testid="block-label"], [data-testid="block-info"], .caption-label';
  for (const el of root.querySelectorAll('img, .thumbnail-item, ' + labels)) {
    if (!visible(el)) continue;
    const r = el.getBoundingClientRect();
    const block = el.parentElement && el.parentElement.closest('.block');
    if (block && !inside(r, block.getBoundingClientRect()))
      problems.push(`${describe(el)} leaves its box`);
    if (r.left < -1 || r.right > pageWidth + 1) problems.push(`${describe(el)} leaves the page`);
    if (el.matches(labels) && el.scrollWidth > el.clientWidth + 1)
      problems.push(`${describe(el)} is cut short (${el.scrollWidth} > ${el.clientWidth} px)`);
    if (el.tagName === 'IMG' && !(el.complete && el.naturalWidth > 0)) problems.push(`${describe(el)} did not load`);
  }
  // A label badge must not sit on a picture of its own block.
  for (const badge of root.querySelectorAll('[data-testid="block-label"]')) {
    if (!visible(badge)) continue;
    const block = badge.closest('.block');
    for (const img of block ? block.querySelectorAll('img') : [])
      if (visible(img) && overlap(badge.getBoundingClientRect(), img.getBoundingClientRect()))
        problems.push(`the label ${describe(badge)} covers a picture`);
  }
  // Seen: at each picture's centre the browser shows the picture, not an overlay.
  for (const img of root.querySelectorAll('img')) {
    if (!visible(img)) continue;
    img.scrollIntoView({block: 'center', inline: 'center'});
    const r = img.getBoundingClientRect();
    const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    if (!hit || !(hit === img || img.contains(hit) || hit.contains(img)))
      problems.push(`${describe(img)} is covered by ${hit ? describe(hit) : 'nothing'}`);
  }
  window.scrollTo(0, 0);
  // Raw TeX outside rendered math (KaTeX keeps its source in .katex's annotation, which is not checked).
  const tex = /_\{|\\(mid|frac|tilde|hat|bar|sqrt|mathcal|theta|epsilon)\b/;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest('.katex, script, style, code, pre') || !visible(parent)) continue;
    if (tex.test(node.textContent))
      problems.push(`raw TeX "${node.textContent.trim().slice(0, 60)}" in ${describe(parent)}`);
  }
  // Math typed as plain text in the page's prose (a Markdown block), where LaTeX is used: "x_t", "p_θ", "x_{t-1}".
  const plain = /(^|[\s(\[,;:"'])[A-Za-zα-ωθ]_(\{|[A-Za-z0-9θ])/;
  const prose = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = prose.nextNode(); node; node = prose.nextNode()) {
    const parent = node.parentElement;
    if (!parent || !parent.closest('.prose') || parent.closest('.katex, script, style, code, pre, button, label'))
      continue;
    if (visible(parent) && plain.test(node.textContent))
      problems.push(`plain-text math "${node.textContent.trim().slice(0, 60)}" in ${describe(parent)}`);
  }
  for (const field of root.querySelectorAll('input[type=text], textarea'))
    if (visible(field) && tex.test(field.value)) problems.push(`raw TeX in the field ${describe(field)}`);
  for (const error of root.querySelectorAll('.katex-error'))
    problems.push(`KaTeX could not parse "${error.textContent.slice(0, 60)}"`);
  return problems;
}"""

# Done when nothing on the open tab is pending: no progress bar, timer or overlay left.
SETTLED = r"""() => {
  const root = [...document.querySelectorAll('.tabitem')].find(el => el.checkVisibility()) || document.body;
  const busy = '.pending, .progress-text, .progress-level-inner, .eta-bar, .progress-level, .meta-text'
    + ', .meta-text-center';
  const pending = [...root.querySelectorAll(busy)].some(el => el.checkVisibility());
  const loading = [...root.querySelectorAll('img')].some(img => img.checkVisibility() && !img.complete);
  return !pending && !loading;
}"""


def tab_slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower().replace("θ", "theta")).strip("-").replace("--", "-")


def settle(page) -> None:
    """Wait until the open tab has nothing pending (twice, 0.5 s apart: a chained event starts after the first)."""
    for _ in range(2):
        page.wait_for_timeout(500)
        page.wait_for_function(SETTLED)


def page_problems(page) -> list[str]:
    return page.evaluate(PAGE_PROBLEMS)


TAB_TITLES = [tab.title for tab in TABS]
# When a tab's main button has finished (a tab not named here: when nothing on it is pending).
DONE = {
    "Sample from noise": "() => document.querySelector('#status textarea').value.includes('done')"
    " && !!document.querySelector('#filmstrip img')",
    "Why do we need p_θ?": "() => document.querySelector('#posterior-answer').innerText.includes('Result')",
    "Exact posterior sampler": "() => document.querySelector('#exact-caption').innerText.includes('copies')"
    " && !!document.querySelector('#distance-plot img')",
}


@pytest.mark.parametrize("title", TAB_TITLES)
def test_every_tab_is_whole_and_readable_before_and_after_its_button(page, app_url, title):
    """Each tab at its defaults, before and after its main (first primary) button: every picture, gallery item and
    label inside its box and seen, no label badge over a picture, no text cut short, no raw TeX, no KaTeX error.
    A screenshot of each state goes to tests/artifacts/tab-<title>-{before,after}.png."""
    check_tab(page, app_url, title, tab_slug(title))


# The tabs that compare the model with its training images.
DATA_TABS = ["Why do we need p_θ?", "Exact posterior sampler", "Which variance for p_θ?"]


@pytest.fixture(scope="module")
def rgb_app_url(rgb_model_dir, tmp_path_factory):
    """The app on the tiny RGB model train.py made from the coloured shapes (its own data, from its record)."""
    with serve_app(rgb_model_dir, log_path=tmp_path_factory.mktemp("log") / "app.log") as url:
        yield url


@pytest.mark.parametrize("title", DATA_TABS)
def test_the_data_tabs_on_a_users_rgb_model_are_whole_and_readable(page, rgb_app_url, title):
    """The same guard on a model trained on a folder of RGB images: screenshots tab-rgb-<title>-{before,after}.png."""
    check_tab(page, rgb_app_url, title, "rgb-" + tab_slug(title))


def check_tab(page, url: str, title: str, slug: str) -> None:
    page.goto(url)
    page.get_by_role("tab", name=title).click()
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"tab-{slug}-before.png"), full_page=True)
    before = page_problems(page)
    panel = page.locator(".tabitem:visible")
    panel.locator("button.primary").first.click()
    page.wait_for_timeout(500)
    if title in DONE:
        page.wait_for_function(DONE[title])
    settle(page)
    page.screenshot(path=str(ARTIFACTS / f"tab-{slug}-after.png"), full_page=True)
    after = page_problems(page)
    assert not before and not after, {"before": before, "after": after}

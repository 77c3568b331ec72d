"""The web front end at ``/``, driven in headless Chromium against real servers.

Embedded mode: one ``gld8tr serve`` process with an API key. Distributed mode: the API under uvicorn, a
``gld8tr worker`` process, Redis and SeaweedFS (the fixtures of ``conftest.py``). Every test goes through the
page the way a person does: key dialog, file input or drop, buttons; then checks what the page shows, the
viewer's pixels and the downloaded file.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser import drawn_fraction, drop_file, needs_browser, start_browser, wait_download, wait_for
from conftest import KEYS
from plyfile import PlyData
from service_helpers import (
    encode_npy,
    encode_png,
    free_port,
    scene_depth,
    scene_image,
    start_serve,
    stop_process,
    wait_until,
)

KEY = "web-test-key-0123456789"
TERMINAL = ("succeeded", "failed", "canceled")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``gld8tr serve`` with one API key; CPU, ``nearest`` depth completion (so a photo without depth fails)."""
    tmp = tmp_path_factory.mktemp("web-serve")
    port = free_port()
    proc, log = start_serve(tmp, port, "serve.log", {"GLD8TR_API_KEYS": KEY})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/readyz", timeout=2).status_code == 200, 120, "gld8tr serve", proc)
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory):
    """One headless Chromium for the module (each start costs seconds); tests reset it through ``browser``."""
    tmp = tmp_path_factory.mktemp("chromium")
    driver = start_browser(tmp / "profile", tmp)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium, tmp_path: Path):
    """The module's browser with no stored API key (the key lives in the page origin's localStorage) and its
    downloads going to this test's own folder."""
    chromium.downloads = tmp_path / "downloads"
    chromium.downloads.mkdir()
    chromium.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(chromium.downloads)})
    yield chromium
    if chromium.current_url.startswith("http"):
        chromium.execute_script("localStorage.clear()")
    chromium.get("about:blank")


# ------------------------------------------------------------------ page helpers


def _by_id(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def open_page(driver, url: str, key: str) -> str:
    """Load the page, answer its key dialog with ``key``; returns the page's auth state after the list loads."""
    driver.get(url + "/")
    wait_for(driver, lambda d: _by_id(d, "key-dialog").get_attribute("open") is not None, 15, "the API key dialog")
    assert driver.execute_script("return document.body.dataset.auth") == "needed"
    _by_id(driver, "api-key").send_keys(key)
    _by_id(driver, "key-save").click()
    return wait_for(driver, lambda d: d.execute_script(
        "const a = document.body.dataset.auth; return a === 'unknown' ? null : a"), 15, "the job list to load")


def submit_photo(driver, tmp_path: Path, *, width: int = 96, height: int = 64, depth: bool = True,
                 mode: str = "single", prompt: str = "a small test room", extra_outputs: tuple[str, ...] = ()) -> None:
    """Choose the photo with the file input, drop the depth map on its drop zone, pick the mode (and extra
    outputs under Options), submit."""
    photo = tmp_path / "photo.png"
    photo.write_bytes(encode_png(scene_image(width, height)))
    _by_id(driver, "image").send_keys(str(photo))
    if depth:
        drop_file(driver, "depth-drop", "depth.npy", encode_npy(scene_depth(width, height)))
        assert _by_id(driver, "depth-name").text.startswith("depth.npy")
    _css(driver, f"input[name=mode][value='{mode}']").click()
    _by_id(driver, "prompt").send_keys(prompt)
    if extra_outputs:
        _css(driver, "details.options summary").click()
        for name in extra_outputs:
            _css(driver, f"input[name=outputs][value='{name}']").click()
    _by_id(driver, "submit").click()


def result_status(driver) -> str:
    return _by_id(driver, "result").get_attribute("data-status")


def wait_result(driver, statuses: tuple[str, ...], timeout: float = 60) -> str:
    return wait_for(driver, lambda d: result_status(d) in statuses and result_status(d), timeout,
                    f"the job to reach {statuses} (now {result_status(driver)})")


def check_viewer_draws(driver, kind: str) -> None:
    """The result's viewer iframe reaches ``ready`` with ``kind`` and its canvas is mostly non-background."""
    frame = _by_id(driver, "viewer")
    wait_for(driver, lambda d: frame.is_displayed(), 15, "the viewer iframe")
    driver.switch_to.frame(frame)
    try:
        state = wait_for(driver, lambda d: d.execute_script(
            "const s = document.body && document.body.dataset.state; return s === 'loading' ? null : s"),
            30, "the viewer to load")
        assert state == "ready", driver.execute_script("return document.getElementById('status').textContent")
        assert driver.execute_script("return document.body.dataset.kind") == kind
    finally:
        driver.switch_to.default_content()
    # Look at it as a user would: scrolled into view (Chromium throttles drawing in iframes out of the viewport).
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", frame)
    time.sleep(0.5)
    drawn, spread = drawn_fraction(frame.screenshot_as_png)
    assert drawn > 0.8 and spread > 10, (drawn, spread)


def download_ply(driver, job_id: str, name: str = "scene.ply") -> PlyData:
    """Press the page's download button for ``name``; the saved file, parsed as PLY."""
    _css(driver, f"#download-list button[data-name='{name}']").click()
    saved = wait_download(driver.downloads, name)
    assert saved.name == f"{job_id[:8]}-{name}"
    return PlyData.read(io.BytesIO(saved.read_bytes()))


def job_item(driver, job_id: str):
    return _css(driver, f"#job-list li[data-id='{job_id}']")


# ------------------------------------------------------------------ tests


def test_page_and_assets_are_public_and_confined(embedded: str) -> None:
    page = httpx.get(embedded + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="web/app.js"' in page.text and 'for="image"' in page.text
    js = httpx.get(embedded + "/web/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    for bad in ("/web/index.html", "/web/__init__.py", "/web/..%2Fapp.py", "/web/"):
        assert httpx.get(embedded + bad).status_code == 404, bad
    assert httpx.get(embedded + "/scenes").status_code == 401  # the API itself still needs the key


@needs_browser
def test_photo_to_viewer_and_download_embedded(embedded: str, browser, tmp_path: Path) -> None:
    assert open_page(browser, embedded, KEY) == "ok"
    submit_photo(browser, tmp_path)
    assert wait_result(browser, TERMINAL) == "succeeded", _by_id(browser, "job-status").text
    seen = _by_id(browser, "result").get_attribute("data-seen").split(",")
    assert seen[0] in ("queued", "running") and seen[-1] == "succeeded", seen  # progress was shown on the way
    assert _by_id(browser, "job-progress").get_attribute("value") == "100"
    assert "done" in _by_id(browser, "job-status").text
    job_id = _by_id(browser, "result").get_attribute("data-job")

    check_viewer_draws(browser, "points")
    ply = download_ply(browser, job_id)
    served = httpx.get(f"{embedded}/scenes/{job_id}/files/scene.ply", headers={"Authorization": f"Bearer {KEY}"})
    assert (browser.downloads / f"{job_id[:8]}-scene.ply").read_bytes() == served.content
    vertex = ply["vertex"]
    assert vertex.count > 0.9 * 96 * 64 and {"x", "y", "z", "red", "green", "blue"} <= set(vertex.data.dtype.names)

    # The job list shows it; Delete removes it from the page and from the service.
    wait_for(browser, lambda d: job_item(d, job_id).get_attribute("data-status") == "succeeded", 10, "the list")
    job_item(browser, job_id).find_element("css selector", "button[data-action='delete']").click()
    wait_for(browser, lambda d: not d.find_elements("css selector", f"#job-list li[data-id='{job_id}']"), 10,
             "the deleted job to leave the list")
    gone = httpx.get(f"{embedded}/scenes/{job_id}", headers={"Authorization": f"Bearer {KEY}"})
    assert gone.status_code == 404
    assert _by_id(browser, "result").get_attribute("data-status") == "none"


@needs_browser
def test_failed_job_shows_why(embedded: str, browser, tmp_path: Path) -> None:
    """No depth map on a server whose depth model only completes given depth: the job fails, the page says why."""
    open_page(browser, embedded, KEY)
    submit_photo(browser, tmp_path, depth=False)
    assert wait_result(browser, TERMINAL) == "failed"
    error = _by_id(browser, "job-error")
    assert error.is_displayed()
    assert "Invalid input" in error.text and "cannot predict depth from the photo alone" in error.text, error.text
    assert "failed" in _by_id(browser, "job-status").text
    assert not _by_id(browser, "viewer-box").is_displayed() and not _by_id(browser, "downloads").is_displayed()
    job_id = _by_id(browser, "result").get_attribute("data-job")
    wait_for(browser, lambda d: "Invalid input" in job_item(d, job_id).text, 10, "the failure in the job list")


@needs_browser
def test_cancel_a_running_job_from_the_list(embedded: str, browser, tmp_path: Path) -> None:
    open_page(browser, embedded, KEY)
    submit_photo(browser, tmp_path, width=320, height=224, mode="360")  # 13 views: many seconds of PatchMatch
    # Live progress: the status line counts the 13 views while the bar moves.
    line = wait_for(browser, lambda d: "of 13" in _by_id(d, "job-status").text and _by_id(d, "job-status").text,
                    60, "the view count in the status line")
    assert "running, view" in line, line
    assert 0 <= float(_by_id(browser, "job-progress").get_attribute("value")) < 100
    job_id = _by_id(browser, "result").get_attribute("data-job")
    button = wait_for(browser, lambda d: d.find_elements(
        "css selector", f"#job-list li[data-id='{job_id}'] button[data-action='cancel']"), 10, "the Cancel button")
    button[0].click()
    assert wait_result(browser, TERMINAL, 60) == "canceled"
    assert "canceled" in _by_id(browser, "job-status").text
    assert "Cancel requested" in _by_id(browser, "jobs-message").text


@needs_browser
def test_wrong_api_key_is_refused_on_the_page(embedded: str, browser, tmp_path: Path) -> None:
    assert open_page(browser, embedded, "not-the-key") == "refused"
    reason = _by_id(browser, "key-reason")
    assert _by_id(browser, "key-dialog").get_attribute("open") is not None
    assert "API key was refused" in reason.text
    assert "Enter your API key" in _by_id(browser, "jobs-message").text
    # Dismiss the dialog and try to submit anyway: refused, nothing queued, the reason is on the page.
    _by_id(browser, "api-key").send_keys("\ue00c")  # Escape
    wait_for(browser, lambda d: _by_id(d, "key-dialog").get_attribute("open") is None, 5, "the dialog to close")
    submit_photo(browser, tmp_path)
    message = wait_for(browser, lambda d: _by_id(d, "form-message").text, 15, "the form's message")
    assert "Not submitted" in message and "Unauthorized" in message, message
    assert _by_id(browser, "key-dialog").get_attribute("open") is not None
    # The right key then works without reloading, and is not asked for again after a reload.
    _by_id(browser, "api-key").send_keys(KEY)
    _by_id(browser, "key-save").click()
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.auth") == "ok", 10, "the list")
    browser.refresh()
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.auth") == "ok", 10, "the list")
    assert _by_id(browser, "key-dialog").get_attribute("open") is None


@needs_browser
@pytest.mark.slow
def test_photo_to_viewer_and_download_distributed(api, worker, browser, tmp_path: Path) -> None:
    """API + Celery worker + Redis + SeaweedFS, with a Gaussian fit: the viewer draws the fitted splats and both
    PLYs download, read from S3 through presigned URLs (CORS)."""
    t0 = time.monotonic()
    assert open_page(browser, api.url, KEYS["a"]) == "ok"
    submit_photo(browser, tmp_path, extra_outputs=("gaussians.ply",))
    assert wait_result(browser, TERMINAL, 180) == "succeeded", _by_id(browser, "job-status").text
    job_id = _by_id(browser, "result").get_attribute("data-job")
    check_viewer_draws(browser, "splats")  # the viewer prefers the Gaussians when the job has them
    ply = download_ply(browser, job_id)
    assert ply["vertex"].count > 0.9 * 96 * 64
    gaussians = download_ply(browser, job_id, "gaussians.ply")["vertex"]
    assert {"f_dc_0", "opacity", "scale_0", "rot_0"} <= set(gaussians.data.dtype.names) and gaussians.count > 0
    assert time.monotonic() - t0 < 180


@needs_browser
def test_every_control_is_labelled_and_the_page_fits_a_phone(embedded: str, browser) -> None:
    open_page(browser, embedded, KEY)
    unnamed = browser.execute_script("""
        const named = (el) => (el.labels && el.labels.length) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim());
        return [...document.querySelectorAll('input, textarea, select, button, progress, iframe')]
            .filter((el) => el.tagName === 'IFRAME' ? !el.title : !named(el)).map((el) => el.outerHTML);
    """)
    assert unnamed == []
    # A phone held upright (390 x 844 CSS pixels, 3x density, mobile viewport rules).
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    try:
        browser.get(embedded + "/")
        wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "true", 10, "the page")
        layout = browser.execute_script("""
            const box = (id) => document.getElementById(id).getBoundingClientRect();
            return {overflow: document.documentElement.scrollWidth - window.innerWidth, width: window.innerWidth,
                    form: box('new-scene'), result: box('result'), submit: box('submit')};
        """)
        assert layout["overflow"] <= 0, layout  # no sideways scrolling
        assert layout["result"]["top"] >= layout["form"]["bottom"], layout  # one column
        assert layout["width"] == 390, layout
        assert layout["submit"]["height"] >= 40 and layout["submit"]["width"] > 300, layout  # easy to tap
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

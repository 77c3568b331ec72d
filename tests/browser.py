"""Headless Debian Chromium driven over WebDriver (selenium + /usr/bin/chromedriver), for the web page tests.

WebGL runs on SwiftShader (``--disable-gpu``), so the viewer really draws and its pixels can be checked.
Tests that need the browser skip, with a reason, when Chromium or its driver is missing; ``.ci/run`` installs
both on a fresh machine so that CI runs them.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMEDRIVER = shutil.which("chromedriver") or (
    "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None
)
try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

needs_browser = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None or not HAVE_SELENIUM,
    reason="browser tests need /usr/bin/chromium and /usr/bin/chromedriver (Debian packages `chromium` and "
    "`chromium-driver`) and the Python package selenium",
)
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--disable-dev-shm-usage",
)
VIEWER_BACKGROUND = np.array([0x1E, 0x1F, 0x24])  # the viewer's clear colour (core/viewer/index.html)


def start_browser(profile: Path, downloads: Path, size: tuple[int, int] = (1200, 900)):
    """A fresh headless Chromium (own profile) whose downloads land in ``downloads``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.set_page_load_timeout(30)
    return driver


def wait_for(driver, check: Callable[[Any], Any], timeout: float, what: str) -> Any:
    """Poll ``check(driver)`` until it returns something truthy; on timeout say what and show the browser log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check(driver)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; browser log: {browser_log(driver)}")


def browser_log(driver) -> list[str]:
    try:
        return [e["message"] for e in driver.get_log("browser") if "GL Driver" not in e["message"]][-20:]
    except Exception:  # the log is a debugging aid only
        return []


def drawn_fraction(png: bytes, background: np.ndarray = VIEWER_BACKGROUND) -> tuple[float, float]:
    """Fraction of the central half of a screenshot that differs from ``background``, and its colour spread."""
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    h, w = image.shape[:2]
    centre = image[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
    drawn = np.abs(centre - background).sum(-1) > 24
    return float(drawn.mean()), float(centre.std())


def wait_download(folder: Path, suffix: str, timeout: float = 30) -> Path:
    """The first finished file in ``folder`` ending in ``suffix`` (Chromium writes ``.crdownload`` first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(f"*{suffix}") if p.stat().st_size > 0]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no *{suffix} download in {folder} after {timeout} s: {list(folder.iterdir())}")


def drop_file(driver, zone_id: str, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
    """Drop a file on the element ``zone_id`` the way a drag from the desktop does (a ``drop`` event whose
    ``DataTransfer`` holds the file)."""
    import base64

    driver.execute_script(
        """
        const [zoneId, name, b64, mime] = arguments;
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: mime }));
        const zone = document.getElementById(zoneId);
        for (const type of ['dragenter', 'dragover', 'drop']) {
          zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
        }
        """,
        zone_id, name, base64.b64encode(data).decode(), mime,
    )

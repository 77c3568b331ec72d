"""Screenshot of the web front end for the README: ``gld8tr serve`` on a scratch data directory, a photo submitted
through the page in headless Chromium, the page captured once the viewer has drawn the scene.

    python scripts/web_screenshot.py --image examples/coffee.jpg --prompt "a cup of coffee" --mode stage \
        --out docs/web.png
    python scripts/web_screenshot.py --mode single --mobile 390x780 --scroll-to result --orbit 0 \
        --out docs/web-phone.png

Needs Debian's chromium + chromium-driver and selenium (``bash scripts/install_chromium.sh``). Runs the embedded
default models on the CPU.
"""

from __future__ import annotations

import argparse
import io
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from browser import start_browser, wait_for  # noqa: E402  (the tests' WebDriver helper)

log = logging.getLogger("web_screenshot")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, default=REPO / "examples" / "coffee.jpg")
    ap.add_argument("--prompt", default="a cup of coffee on a table")
    ap.add_argument("--mode", default="stage", choices=["single", "stage", "360"])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "web.png")
    ap.add_argument("--size", default="1280x1250", help="browser window, WIDTHxHEIGHT")
    ap.add_argument("--orbit", type=int, default=12, help="drag the view this many pixels sideways first")
    ap.add_argument("--mobile", default="", help="emulate a phone screen of WIDTHxHEIGHT CSS pixels")
    ap.add_argument("--scroll-to", default="", help="id of the element to scroll to before the capture")
    ap.add_argument("--port", type=int, default=8797)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    width, height = (int(v) for v in args.size.split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        url = f"http://127.0.0.1:{args.port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "gld8tr", "serve", "--port", str(args.port), "--data-dir", str(tmp_path / "data")],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        driver = None
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                try:
                    if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            driver = start_browser(tmp_path / "profile", tmp_path, size=(width, height))
            if args.mobile:
                w, h = (int(v) for v in args.mobile.split("x"))
                driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                       {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": True})
            driver.get(url + "/")
            wait_for(driver, lambda d: d.execute_script("return document.body.dataset.auth") == "ok", 30, "the page")
            driver.find_element("id", "image").send_keys(str(args.image.resolve()))
            driver.find_element("css selector", f"input[name=mode][value='{args.mode}']").click()
            driver.find_element("id", "prompt").send_keys(args.prompt)
            t0 = time.monotonic()
            driver.find_element("id", "submit").click()
            status = wait_for(driver, lambda d: d.execute_script(
                "const s = document.getElementById('result').dataset.status;"
                "return ['succeeded', 'failed', 'canceled'].includes(s) ? s : null"), 900, "the job")
            log.info("job %s after %.1f s", status, time.monotonic() - t0)
            frame = driver.find_element("id", "viewer")
            driver.switch_to.frame(frame)
            wait_for(driver, lambda d: d.execute_script("return document.body.dataset.state") == "ready", 120,
                     "the viewer")
            if args.orbit:  # turn the scene a little so that the picture shows depth, not just the photo
                from selenium.webdriver.common.action_chains import ActionChains

                canvas = driver.find_element("css selector", "#view canvas")
                ActionChains(driver).move_to_element(canvas).click_and_hold().move_by_offset(args.orbit, 0) \
                    .release().perform()
                time.sleep(2)
            driver.switch_to.default_content()
            if args.scroll_to:
                driver.execute_script("document.getElementById(arguments[0]).scrollIntoView()", args.scroll_to)
            else:
                driver.execute_script("window.scrollTo(0, 0)")
            time.sleep(0.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            from PIL import Image

            Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB").save(args.out, optimize=True)
            log.info("wrote %s", args.out)
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main()

"""Shared by every test folder: this folder is on ``sys.path`` (pytest's rootdir-relative import of conftest
files), so helpers that several folders use live here, e.g. ``browser.py`` (headless Chromium over WebDriver)."""

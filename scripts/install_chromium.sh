#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian, for the browser tests (viewer and web page). Runs apt only
# when /usr/bin/chromium or /usr/bin/chromedriver is missing. Elsewhere than CI, without root or apt it only
# warns and the browser tests skip with a reason; in CI (CI=true) that is an error, so they never skip there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: /usr/bin/chromium or /usr/bin/chromedriver is missing and apt-get cannot run as root" \
       "here; install the Debian packages chromium and chromium-driver to run the browser tests" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version

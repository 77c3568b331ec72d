#!/usr/bin/env bash
# Headless Chromium and its WebDriver from Debian, for the browser tests (viewer and web page), and libusb, which
# Open3D's wheel links against (the mesh tests; Chromium's packages usually bring it along, a bare image does not).
# Runs apt only when /usr/bin/chromium, /usr/bin/chromedriver or libusb-1.0.so.0 is missing. Elsewhere than CI,
# without root or apt it only warns and the browser tests skip with a reason; in CI (CI=true) that is an error, so
# they never skip there.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && ldconfig -p | grep -q 'libusb-1.0.so.0'; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install_chromium: chromium, chromedriver or libusb-1.0 is missing and apt-get cannot run as root" \
       "here; install the Debian packages chromium, chromium-driver and libusb-1.0-0 to run the browser and mesh" \
       "tests" >&2
  [ "${CI:-}" = "true" ] && exit 1
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver libusb-1.0-0 >/dev/null
/usr/bin/chromium --version

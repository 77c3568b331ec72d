#!/usr/bin/env bash
# Install, lint, and run the tests. The default run skips tests marked `slow`; CI (CI=true) or
# GLD8TR_SLOW_TESTS=1 runs them too, after the fast ones.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ruff check .
python -m pytest -m "not slow" -q "$@"
if [ "${CI:-}" = "true" ] || [ "${GLD8TR_SLOW_TESTS:-0}" = "1" ]; then
  python -m pytest -m slow -q "$@"
fi

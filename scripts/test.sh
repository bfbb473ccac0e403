#!/usr/bin/env bash
# Install everything the test suite needs (Python packages, Debian's chromium for the browser tests), lint, then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
python -m ruff check .
python -m ruff format --check .
exec python -m pytest -n 2 --dist loadfile "$@"

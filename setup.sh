#!/usr/bin/env bash
# Sets up markupeval on a fresh Debian/Ubuntu machine: TeX Live (render/setup.sh), a virtual
# environment in .venv with the package and its Python dependencies, and with --test the test
# extras (torch for the baselines, pytest) and Chromium for the HTML-report test.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")"

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1 ;;
    *) echo "usage: ./setup.sh [--test]" >&2; exit 2 ;;
  esac
done

bash render/setup.sh

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
extras="baselines"
[ $with_tests -eq 1 ] && extras="baselines,test"
# torch==2.13.0 (the baselines extra) is the CPU build on the project's machines; elsewhere add
# PyTorch's CPU wheel index with PIP_EXTRA_INDEX_URL to avoid a multi-GB CUDA download.
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${extras}]" 2>&1 \
  | grep -v -e "^WARNING: Location" -e "is ignored: it is neither" || true
.venv/bin/python -c "import markupeval" || { echo "setup.sh: markupeval failed to install" >&2; exit 1; }

if [ $with_tests -eq 1 ]; then
  bash tests/install_browser.sh \
    || echo "setup.sh: Chromium could not be installed; the HTML report test will be skipped" >&2
fi
echo "setup.sh: ready (.venv/bin/markupeval)"

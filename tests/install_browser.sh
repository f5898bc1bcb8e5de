#!/usr/bin/env bash
# Installs Debian's Chromium for tests/test_report.py (the HTML report opened in a real headless
# browser). Idempotent; without Chromium that test is skipped with a visible reason.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine's package lists may be empty or stale: install, and on failure update and retry.
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || {
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
}
command -v chromium >/dev/null 2>&1

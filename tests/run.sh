#!/usr/bin/env bash
# The whole test suite, on a fresh machine: makes .venv, installs the package with its test
# extras (and Debian's Chromium for the browser tests, when missing and apt-get can), lints
# (ruff), type-checks (mypy --strict), and runs pytest (extra arguments go to pytest) with line coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x "${GEMINI_MAGIC_CHROMIUM:-/usr/bin/chromium}" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "installing Debian's chromium for the browser tests"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if ! .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]' >.venv/pip.log 2>&1; then
    cat .venv/pip.log
    exit 1
fi
.venv/bin/python -m pip check
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # --strict on gemini_magic, as configured in pyproject.toml
# Line coverage of gemini_magic in the pytest process (the in-process tests and every unit test;
# kernel subprocesses are not measured): modules under 100 % are listed, then TOTAL. The whole
# suite must reach 90 %; a run of chosen tests (arguments given) only reports.
fail_under=90
[ $# -eq 0 ] || fail_under=0
COVERAGE_FILE=.venv/.coverage .venv/bin/python -m pytest --cov=gemini_magic --cov-report=term:skip-covered \
    --cov-fail-under="$fail_under" "$@"

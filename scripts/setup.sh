#!/usr/bin/env bash
# Set up everything exomir needs, idempotently:
#   1. command-line tools (bowtie, samtools, bedtools, pigz, fastp; chromium
#      for the report tests, optional): through
#      apt-get when running as root on Debian/Ubuntu, otherwise a clear message
#      naming the missing tools and the conda route;
#   2. a project virtualenv (.venv) with the pinned Python packages
#      (requirements.lock) and exomir itself (editable).
# A second run does nothing unless requirements.lock or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS=(bowtie bowtie-build samtools bedtools pigz fastp)
APT_PACKAGES=(bowtie samtools bedtools pigz fastp)

missing=()
for t in "${TOOLS[@]}"; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${APT_PACKAGES[*]} with apt-get (missing: ${missing[*]})"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}" >/dev/null
  else
    echo "setup: missing command-line tools: ${missing[*]}" >&2
    echo "setup: cannot install them here (needs root on Debian/Ubuntu for apt-get)." >&2
    echo "setup: install them with conda instead:" >&2
    echo "         conda env create -f environment.yml && conda activate exomir" >&2
    echo "       or ask your administrator for: ${APT_PACKAGES[*]}" >&2
    exit 1
  fi
fi

# Headless Chromium, for the report tests only (tests/integration/
# test_report_browser.py): installed like the tools above when possible,
# otherwise those tests are skipped with the reason.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing chromium with apt-get (report browser tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
      echo "setup: chromium could not be installed; the report browser tests will be skipped" >&2
  else
    echo "setup: chromium not found (needs root for apt-get); the report browser tests will be skipped" >&2
  fi
fi

PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "setup: Python >= 3.11 is required ($("$PY" --version 2>&1) found); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

STAMP=.venv/.exomir-setup
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating virtualenv .venv"
  "$PY" -m venv .venv
fi
if [ ! -f "$STAMP" ] || [ requirements.lock -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "setup: installing pinned Python packages into .venv (about a minute)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  touch "$STAMP"
fi
echo "setup: ready (tools: ${TOOLS[*]}; python: .venv)"

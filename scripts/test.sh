#!/usr/bin/env bash
# The whole test suite, then lint. Run via `make test` (which sets up .venv first).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -q "$@"
.venv/bin/ruff check tutor tests scripts
.venv/bin/mypy

# Everyday commands. The README's two commands are `make run` and `make test`.
.PHONY: setup setup-dev run serve ingest test test-fast lint eval bench reranker clean

VENV := .venv/bin

setup:            ## install the runtime into .venv (idempotent)
	bash scripts/setup.sh

setup-dev:        ## runtime + test and lint tools
	bash scripts/setup.sh --dev

run: setup        ## set up, ingest corpus/ if missing or stale, start the browser app
	$(VENV)/tutor ingest
	$(VENV)/tutor serve

serve:
	$(VENV)/tutor serve

ingest:
	$(VENV)/tutor ingest

test: setup-dev   ## set up and run the whole test suite
	bash scripts/test.sh

test-fast:        ## the suite without the slow (LLM / browser) tests
	$(VENV)/python -m pytest -m "not slow and not e2e" -q

lint:
	$(VENV)/ruff check tutor tests scripts
	$(VENV)/mypy

bench:            ## benchmarks: numbers go to bench/results.md and the README
	$(VENV)/python scripts/bench_retrieval.py
	$(VENV)/python scripts/bench_answer.py
	$(VENV)/python scripts/bench_app.py

reranker:         ## retrain the cross-encoder on corpus/ (seeded) into .tutor/reranker
	$(VENV)/tutor train-reranker

clean:
	rm -rf .tutor

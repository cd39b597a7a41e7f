# sparkner: `make demo` runs the batch job on the bundled sample documents;
# `make test` runs the test suite. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# CPU build of torch; installed first so nothing pulls a CUDA build.
TORCH ?= torch==2.13.0

.PHONY: all demo test venv clean benchmark

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m sparkner.jobs --master "local[2]" \
		--input examples/sample_docs.jsonl --input-format json --text-col text --id-col doc_id \
		--output output/demo --mode overwrite --aggregation-strategy first --show 40

test: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) output .pytest_cache spark-warehouse

# Throughput: sparkner vs. the pipeline-in-a-UDF recipe vs. the model-only ceiling (needs ../shared).
benchmark: $(STAMP)
	$(PY) benchmarks/bench.py --out docs/benchmarks.md

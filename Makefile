# sparkner: `make demo` runs the batch job on the bundled sample documents;
# `make test` runs the whole test suite on the latest runtime (Spark 4, transformers 5), in .venv;
# `make test-fast` leaves out the slow groups (servers, clusters, notebooks, fresh venvs, subprocess
# jobs) for the inner loop; `make test-lts` runs the quick group and Flair on the LTS runtime
# (Spark 3.5, transformers 4.57, flair), in .venv-lts: what differs there, not the slow groups again.
# Each environment is created on first use from the pins in constraints/.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LTS_VENV ?= .venv-lts
LTS_PY := $(LTS_VENV)/bin/python
LTS_STAMP := $(LTS_VENV)/.installed
# CPU build of torch; installed first so nothing pulls a CUDA build.
TORCH ?= torch==2.13.0
COMMA := ,
# The slow groups (pytest markers, pyproject.toml): each starts servers, clusters, notebooks, fresh
# venvs or subprocess jobs, and runs once, on the latest runtime.
SLOW := connect or cluster or mlflow or wheel or server or notebook or processes

.PHONY: all demo test test-fast test-lts test-all venv clean benchmark readme-options lint evaluate wheel

all: test

# $(call make-venv,DIR,EXTRAS,CONSTRAINTS): a fresh virtual environment with sparkner installed.
define make-venv
	@echo "sparkner: creating $(1) (CPU torch, then sparkner with its pinned dependencies; a few minutes, once)"
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet "$(TORCH)"
	$(1)/bin/python -m pip install --quiet -e ".[$(2)]" -c $(3)
	touch $(1)/.installed
endef

$(STAMP): pyproject.toml constraints/latest.txt
	$(call make-venv,$(VENV),test,constraints/latest.txt)

$(LTS_STAMP): pyproject.toml constraints/lts.txt
	$(call make-venv,$(LTS_VENV),test$(COMMA)flair,constraints/lts.txt)

venv: $(STAMP)

demo: $(STAMP)
	@echo "sparkner demo: the batch job on the bundled sample documents (src/sparkner/demo/)"
	$(PY) -m sparkner.jobs --master "local[2]" \
		--input src/sparkner/demo/sample_docs.jsonl --input-format json --text-col text --id-col doc_id \
		--output output/demo --mode overwrite --aggregation-strategy first --show 40

# Flair needs transformers < 5, so its tests run in the LTS environment only.
test: $(STAMP) lint
	$(PY) -m pytest -m "not flair"

# schemathesis's pytest plugin serves only the server group (and costs half a second to load).
test-fast: $(STAMP) lint
	$(PY) -m pytest -p no:schemathesis -m "not (flair or $(SLOW))"

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks scripts jobs
	$(PY) -m ruff format --check src tests benchmarks scripts jobs

# The README's option tables, generated from the declarations in src/sparkner/options/settings.py.
readme-options: $(STAMP)
	$(PY) -c "from sparkner.options.readme import update_readme; print('README.md updated' if update_readme('README.md') else 'README.md unchanged')"

# The quick group and Flair on Spark 3.5 / transformers 4.57 (pyspark 3.5's Spark Connect server is a
# Maven jar, not on PyPI: Connect is tested on Spark 4 only, with the other slow groups).
test-lts: $(LTS_STAMP)
	$(LTS_PY) -m pytest -m "not ($(SLOW))"

test-all: test test-lts

clean:
	rm -rf $(VENV) $(LTS_VENV) output .pytest_cache spark-warehouse

# Throughput: sparkner vs. the pipeline-in-a-UDF recipe vs. the model-only ceiling (needs ../shared).
benchmark: $(STAMP)
	$(PY) benchmarks/bench.py --bert-base --out docs/benchmarks.md

# Entity quality of the real model for every strategy and word-boundary mode (needs ../shared).
evaluate: $(STAMP)
	$(PY) benchmarks/quality.py --out docs/quality.md

# The wheel to install on a cluster or in another environment (dist/sparkner-<version>-py3-none-any.whl).
wheel: $(STAMP)
	$(PY) -m pip wheel --no-deps --wheel-dir dist .

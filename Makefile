# Everything runs from .venv, created on first use from pyproject.toml alone.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint bench bench-quick serve bot ingest chroma clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first, pinned, so nothing resolves it to a CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/newsqa ingest
	$(BIN)/newsqa ask "郏县建成了多少座5G基站？"
	$(BIN)/newsqa run

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot rag ingest tests bench
	$(BIN)/mypy bot rag ingest bench
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_architecture.py  # import cycles, layers, module size

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

ingest: $(STAMP)
	$(BIN)/newsqa ingest

serve: $(STAMP)
	$(BIN)/newsqa serve

bot: $(STAMP)
	$(BIN)/newsqa bot

# A local Chroma server for trying the server store (see docs/deploy.md); override CHROMA_PATH / CHROMA_PORT.
# Point newsqa at it with NEWSQA_CHROMA_HOST=127.0.0.1 NEWSQA_CHROMA_PORT=8001.
chroma: $(STAMP)
	$(BIN)/chroma run --path $(or $(CHROMA_PATH),data/chroma-server) --host 127.0.0.1 --port $(or $(CHROMA_PORT),8001)

clean:
	rm -rf $(VENV) data/store

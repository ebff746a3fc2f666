# Everything runs from .venv, created on first use from pyproject.toml alone.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system-deps run test lint bench bench-quick bench-ocr serve bot ingest chroma clean train

# Debian packages: the CJK font that tests and bench/ocr_bench.py render newspaper pages with (dev/test only), and
# the GL/GLib libraries opencv-python (a RapidOCR dependency) loads. Installed only where apt-get exists and the
# file is missing; never fails the build (tests that need the font then skip, naming the package).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first, pinned, so nothing resolves it to a CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@missing=""; \
	test -f $(CJK_FONT) || missing="$$missing fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q 'libGL.so.1 ' || missing="$$missing libgl1"; \
	ldconfig -p 2>/dev/null | grep -q 'libglib-2.0.so.0 ' || missing="$$missing libglib2.0-0"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && $(APT_INSTALL) $$missing) || echo "warning: could not install$$missing"; \
	fi

setup: system-deps $(STAMP)

run: $(STAMP)
	$(BIN)/newsqa ingest
	$(BIN)/newsqa ask "郏县建成了多少座5G基站？"
	$(BIN)/newsqa run

test: system-deps $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check bot rag ingest tests bench
	$(BIN)/mypy bot rag ingest bench
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_architecture.py  # import cycles, layers, module size

bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

# OCR: CER of rendered sample pages, pages per minute, answers over the rendered pages (see docs/benchmarks.md).
bench-ocr: system-deps $(STAMP)
	$(BIN)/python bench/ocr_bench.py

ingest: $(STAMP)
	$(BIN)/newsqa ingest

# The answer selector (rag/answering/model/): ingest the training archives once into TRAIN_CACHE, cache the
# candidates' features, fit, cross-validate, write the model file and its card (bot/train.py). REBUILD=1 recomputes
# the cached features (after a change to rag/answering/features.py).
TRAIN_DIR ?= ../shared/train
TRAIN_CACHE ?= ../cache/scorer
train: $(STAMP)
	$(BIN)/python -m bot.train $(TRAIN_DIR) $(TRAIN_CACHE) $(if $(REBUILD),--rebuild)

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

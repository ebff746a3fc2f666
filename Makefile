# Everything runs from .venv, created on first use from pyproject.toml alone. Two stamps: `make run` (and the
# other commands a user runs) needs the runtime dependencies only; `make test`, `make lint` and the benchmarks add
# the `dev` extra (pytest, ruff, mypy, matplotlib ...) on top.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: setup system-deps browser-deps screenshot run test lint docs train ablate ablate-selector ablate-rules \
	bench bench-quick bench-ocr bench-serve-ingest bench-hnsw serve bot \
	ingest chroma clean soak

# Debian packages: the CJK font that tests and bench/ocr_bench.py render newspaper pages with (dev/test only),
# the GL/GLib libraries opencv-python (a RapidOCR dependency) loads, and curl (tests/test_readme_examples.py runs
# the README's curl examples). Installed only where apt-get exists and the
# file is missing; never fails the build (tests that need the font then skip, naming the package).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
APT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends

$(RUNTIME): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# torch first, pinned, so nothing resolves it to a CUDA build.
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e .
	@touch $(RUNTIME)

$(DEV): $(RUNTIME) pyproject.toml
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $(DEV)

system-deps:
	@missing=""; \
	test -f $(CJK_FONT) || missing="$$missing fonts-noto-cjk"; \
	ldconfig -p 2>/dev/null | grep -q 'libGL.so.1 ' || missing="$$missing libgl1"; \
	ldconfig -p 2>/dev/null | grep -q 'libglib-2.0.so.0 ' || missing="$$missing libglib2.0-0"; \
	command -v curl >/dev/null 2>&1 || missing="$$missing curl"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && $(APT_INSTALL) $$missing) || echo "warning: could not install$$missing"; \
	fi

# Debian's chromium (and a colour emoji font for the 👍/👎 buttons) for the browser tests (tests/test_web_*.py) and
# `make screenshot` only: running newsqa never needs them. Without chromium the browser tests skip, except under
# CI=true, where they fail.
browser-deps:
	@missing=""; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	test -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf || missing="$$missing fonts-noto-color-emoji"; \
	if [ -n "$$missing" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian packages:$$missing"; \
		(apt-get update -qq && $(APT_INSTALL) $$missing) || echo "warning: could not install$$missing"; \
	fi

# Everything a developer needs: system packages, runtime and dev dependencies (CI's `make test` path).
setup: system-deps $(DEV)

run: $(RUNTIME)
	$(BIN)/newsqa ingest
	$(BIN)/newsqa ask "郏县建成了多少座5G基站？"
	$(BIN)/newsqa run

test: system-deps browser-deps $(DEV)
	$(BIN)/python -m pytest -q

# docs/screenshot.png: the web page answering a question with its source open (Debian's chromium, offline).
screenshot: system-deps browser-deps $(DEV)
	$(BIN)/python -m tests.web_support.screenshot docs/screenshot.png

lint: $(DEV)
	$(BIN)/ruff check bot rag ingest tests bench
	$(BIN)/mypy bot rag ingest bench
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_architecture.py  # import cycles, layers, module size

# docs/configuration.md, the table of every NEWSQA_ variable, generated from rag/settings.py (checked by
# tests/test_config_doc.py; run this after adding or changing a setting).
docs: $(DEV)
	$(BIN)/python -m bot.config_doc

bench: $(DEV)
	$(BIN)/python bench/run.py

bench-quick: $(DEV)
	$(BIN)/python bench/run.py --quick

# Long run (benchmark, not CI): a real `newsqa serve` under a steady mix of questions with ingests and deletes of
# pages, one row per INTERVAL seconds (RSS, descriptors, p50/p95, errors) and a verdict (bench/soak.py,
# docs/benchmarks.md). HOURS may be fractional: `make soak HOURS=0.25 INTERVAL=120`.
HOURS ?= 2
INTERVAL ?= 300
soak: $(DEV)
	$(BIN)/python bench/soak.py --hours $(HOURS) --interval $(INTERVAL)

# OCR: CER of rendered sample pages, pages per minute, answers over the rendered pages (see docs/benchmarks.md).
bench-ocr: system-deps $(DEV)
	$(BIN)/python bench/ocr_bench.py

# Questions answered while `newsqa serve` runs a REST ingest, with and without the passage worker (packaged e5).
bench-serve-ingest: $(DEV)
	$(BIN)/python bench/serve_during_ingest.py --files $(or $(FILES),40)

# Dense recall@20 against exact search per HNSW setting (docs/benchmarks.md, "Dense recall"); SIZES=1000000 for 1M.
bench-hnsw: $(DEV)
	$(BIN)/python bench/hnsw_recall.py prepare --sizes $(or $(SIZES),100000)
	$(BIN)/python bench/hnsw_recall.py run --set synthetic-$(or $(SIZES),100000) --m $(or $(M),16) --ef 100,200,400,800
	$(BIN)/python bench/hnsw_recall.py table

ingest: $(RUNTIME)
	$(BIN)/newsqa ingest

# The answer selector (rag/answering/model/): ingest the training archives once into TRAIN_CACHE, cache the
# candidates' features, fit, cross-validate, write the model file and its card (bot/train.py). REBUILD=1 recomputes
# the cached features (after a change to rag/answering/features.py).
TRAIN_DIR ?= ../shared/train
TRAIN_CACHE ?= ../cache/scorer
train: $(DEV)
	$(BIN)/python -m bot.train $(TRAIN_DIR) $(TRAIN_CACHE) $(if $(REBUILD),--rebuild)

# Ablation (benchmarks, not CI; docs/evaluation.md). ablate-selector: the selector against a logistic regression,
# gradient boosting and coverage alone, and each feature family dropped in turn (grouped CV with 95 % intervals on
# the training sets, from TRAIN_CACHE's features; run make train first); writes the tables and the risk-coverage
# plot. ablate-rules (docs/ablation-rules.md): each remaining hand-rule family switched off in turn, end to end on
# the training sets, over copies of make train's stores; then the time rules on a dated archive built from
# crud_train. Rows and summaries (95 % intervals, paired differences) go to ABLATE_OUT.
ABLATE_OUT ?= /tmp/newsqa-ablate
ablate: ablate-selector ablate-rules
ablate-selector: $(DEV)
	$(BIN)/python bench/ablate_selector.py $(TRAIN_CACHE) --out bench/data/selector_ablation.md \
		--plot docs/risk_coverage.png
ablate-rules: $(DEV)
	mkdir -p $(ABLATE_OUT)
	$(BIN)/python bench/ablate_rules.py crud --cache $(TRAIN_CACHE) --work $(ABLATE_OUT)/stores --out $(ABLATE_OUT)/crud.jsonl
	$(BIN)/python bench/ablate_rules.py drcd --limit 300 --cache $(TRAIN_CACHE) --work $(ABLATE_OUT)/stores --out $(ABLATE_OUT)/drcd.jsonl
	$(BIN)/python bench/ablate_dated.py --facts 60 --work $(ABLATE_OUT)/dated --out $(ABLATE_OUT)/dated.jsonl

serve: $(RUNTIME)
	$(BIN)/newsqa serve

bot: $(RUNTIME)
	$(BIN)/newsqa bot

# A local Chroma server for trying the server store (see docs/deploy.md); override CHROMA_PATH / CHROMA_PORT.
# Point newsqa at it with NEWSQA_CHROMA_HOST=127.0.0.1 NEWSQA_CHROMA_PORT=8001.
chroma: $(RUNTIME)
	$(BIN)/chroma run --path $(or $(CHROMA_PATH),data/chroma-server) --host 127.0.0.1 --port $(or $(CHROMA_PORT),8001)

clean:
	rm -rf $(VENV) data/store

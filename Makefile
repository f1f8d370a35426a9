# synthlabel — the commands that matter on a fresh machine:
#   make demo   install everything and run the main job on generated samples
#   make test   install everything and run the test suite
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synthlabel-installed
SYSSTAMP := .make/system-deps
# libgl1/libglib2.0-0: opencv-python (pulled in by rapidocr for the [ocr] extra) links them
# chromium: the web UI's browser tests (tests/browser) drive it headless through Playwright
APT_PACKAGES := libimage-exiftool-perl fonts-noto-cjk fontconfig poppler-utils openssl webp libheif-examples libtiff-tools ffmpeg espeak-ng unzip libgl1 libglib2.0-0 chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo serve-demo test lint typecheck fuzz bench bench-detect install system-deps clean

install: $(STAMP) $(SYSSTAMP)

# Debian packages: exiftool (independent reader for the tests), a CJK font for visible labels.
$(SYSSTAMP):
	@mkdir -p .make
	@if ! command -v exiftool >/dev/null || ! fc-list :lang=zh family | grep -q . || ! command -v pdfinfo >/dev/null || ! command -v webpmux >/dev/null || ! command -v heif-info >/dev/null || ! command -v tiffinfo >/dev/null || ! command -v ffprobe >/dev/null || ! command -v espeak-ng >/dev/null || ! command -v unzip >/dev/null || ! test -x /usr/bin/chromium || ! { ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | grep -q 'libGL.so.1 '; then \
		echo "installing Debian packages: $(APT_PACKAGES)"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi
	@touch $@

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@# torch 2.13.0 resolves to the CPU build shipped on these machines (never a CUDA build)
	$(BIN)/python -m pip install -q --disable-pip-version-check 'torch==2.13.0'
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,c2pa,watermark,text-watermark,ocr,service,ray]'
	@touch $@

demo: install
	$(BIN)/python -m synthlabel.demo
	@# the supervision service's demo database (web UI): seeded here, started by `make serve-demo`
	$(BIN)/synthlabel demo-data --database-url sqlite:///demo-out/service.db
	@echo "sample report: demo-out/report.html$$(test -f demo-out/report.pdf && echo ' and demo-out/report.pdf')"
	@echo "web UI: run 'make serve-demo' and open http://127.0.0.1:8000/"

# The web UI on the demo database (blocks; Ctrl-C stops it). Seeds it first if needed.
serve-demo: install
	$(BIN)/synthlabel demo-data --database-url sqlite:///demo-out/service.db
	$(BIN)/synthlabel serve --database-url sqlite:///demo-out/service.db --port 8000

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not pg_restart"; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; rc=0; fi; [ $$rc -eq 0 ] || exit $$rc
	@# tests that restart a PostgreSQL server: alone, after the parallel run
	$(BIN)/python -m pytest -q -m pg_restart; rc=$$?; if [ $$rc -eq 5 ]; then echo "no pg_restart tests collected"; exit 0; fi; exit $$rc

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

fuzz: install
	$(BIN)/python tests/fuzz/run_fuzz.py --seconds $${FUZZ_SECONDS:-60}

bench: install
	$(BIN)/python bench/bench_metadata.py
	$(BIN)/python bench/bench_visible.py
	$(BIN)/python bench/bench_video_caption.py
	$(BIN)/python bench/bench_av_metadata.py

# The watermark and detection benchmarks (long: ~1-2 h on 2 cores; wmbench needs its own venv).
bench-detect: install
	$(BIN)/python bench/bench_wm_image.py
	$(BIN)/python bench/bench_wm_audio.py
	$(BIN)/python bench/bench_wm_video.py
	$(BIN)/python bench/bench_wm_text.py
	$(BIN)/python bench/bench_traces.py
	$(BIN)/python bench/bench_registry.py
	$(BIN)/python bench/bench_visible_detect.py
	$(BIN)/python bench/bench_caption_height.py
	$(BIN)/python bench/bench_voice_prompt.py
	$(BIN)/python bench/bench_inspect.py
	$(BIN)/python bench/bench_scan.py
	$(BIN)/python bench/bench_scan.py --mode default
	bash bench/run_wmbench_image.sh
	bash bench/run_wmbench_audio.sh

clean:
	rm -rf .make $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache demo-out

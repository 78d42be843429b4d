"""splice-pyc's ``PycIndex`` against CPython's ``marshal`` and ``==``.

The differential run is ``tests/pyc_vs_marshal.py`` (in a subprocess); this
shows its summary line in the pytest output, e.g. ``pyc-vs-marshal: 863
files (860 with a .pyc), 33126 code objects, 132504 held, 198756 refused,
0 mismatches``.
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splice import _native

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "pyc_vs_marshal.py"
# every fourth stdlib file keeps `make test` in budget on 2 cores;
# SPLICE_PYC_EVERY=1 checks them all
EVERY = os.environ.get("SPLICE_PYC_EVERY", "4")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=900, cwd=HERE.parent)


def _show(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert " 0 mismatches" in done.stdout, done.stdout


def test_pyc_index_agrees_with_marshal_on_the_stdlib(capsys):
    done = run("--every", EVERY)
    with capsys.disabled():
        print("\n" + done.stdout.strip().splitlines()[-1])
    _show(done)


def test_pyc_index_agrees_with_marshal_on_ml_packages():
    """The large modules the enter-exit bench probes, where installed."""
    paths = [spec.origin for name in ("transformers.generation.utils", "timm.layers.attention",
                                      "torch.nn.modules.module")
             if importlib.util.find_spec(name.split(".")[0]) is not None
             and (spec := importlib.util.find_spec(name)) is not None and spec.origin]
    if not paths:
        pytest.skip("torch, timm and transformers are not installed in this interpreter")
    _show(run(*paths))


def test_unreadable_data_is_a_value_error():
    code = compile("def f(x):\n    return x\n", "m.py", "exec")
    data = marshal.dumps(code)
    with pytest.raises(ValueError, match="ends at byte"):
        _native.PycIndex(data[:-3])
    with pytest.raises(ValueError, match="unknown marshal type code"):
        _native.PycIndex(b"W")
    with pytest.raises(ValueError, match="past the end"):
        _native.PycIndex(data, len(data) + 1)
    index = _native.PycIndex(data)
    assert index.code_count == 2
    with pytest.raises(ValueError, match="not a code object"):
        index.holds(marshal.dumps((1, 2)))


def test_damaged_pyc_data_is_refused_or_read_never_a_panic():
    """A ``.pyc`` whose header matches can still be damaged (cut short by a
    full disk, bytes changed by a bad copy): ``PycIndex`` reads it or raises
    ``ValueError`` (splice then compiles the source to check it), and an
    index of damaged data answers ``holds`` with a bool or ``ValueError``.
    A Rust panic would surface as ``pyo3_runtime.PanicException``, a
    ``BaseException`` no caller expects. Every truncation of a real module's
    marshal data, then random byte changes (fixed seed)."""
    import json.decoder
    import random

    module = compile(Path(json.decoder.__file__).read_text(), json.decoder.__file__, "exec")
    data = marshal.dumps(module)
    dumps = [marshal.dumps(c) for c in (module, *(c for c in module.co_consts if hasattr(c, "co_code")))]
    assert _native.PycIndex(data).holds(dumps[1])
    read = refused = 0
    for cut in range(len(data)):
        try:
            _native.PycIndex(data[:cut])
            read += 1
        except ValueError:
            refused += 1
    rng = random.Random(13)
    for _ in range(5000):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(damaged))
            damaged[i] = rng.randrange(256) if rng.random() < 0.7 else damaged[i] ^ (1 << rng.randrange(8))
        try:
            index = _native.PycIndex(bytes(damaged))
        except ValueError:
            refused += 1
            continue
        read += 1
        for dump in dumps:
            try:
                assert isinstance(index.holds(dump), bool)
            except ValueError:
                pass
    assert refused > len(data) // 2 and read > 0  # both outcomes were exercised

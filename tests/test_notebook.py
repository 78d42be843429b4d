"""Notebooks: examples/attention.ipynb runs headless to the end, and
functions defined in notebook cells are breakpoint and capture targets.

Each notebook runs in an ipykernel of this venv (nbclient, nbformat and
ipykernel are pinned in requirements-test.txt, which scripts/venv installs
into every venv): the kernel spec is written to a temporary ``JUPYTER_PATH``
with ``sys.executable``, so no user-level kernel can stand in for it.

- ``test_cell_functions`` (every version): a function defined in a cell is
  targeted by line text and by line number (counted within the cell); the
  source comes from IPython's cell cache.
- ``test_attention_notebook`` (the interpreters with the ML packages,
  ``SPLICE_ML_MINORS``, "11 15"; skipped elsewhere and pytest's summary says
  so): the seed's walkthrough on the pretrained all-MiniLM-L6-v2 runs to the
  end, offline, and its restore cell reports bit-identical embeddings.
- ``test_committed_notebook_is_clean``: the repository's notebook has no
  outputs or execution counts.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat", reason="scripts/venv installs nbformat (requirements-test.txt)")
from nbclient import NotebookClient  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO / "examples" / "attention.ipynb"
ML_MINORS = [int(m) for m in os.environ.get("SPLICE_ML_MINORS", "11 15").split()]
KERNEL = "splice-test"


@pytest.fixture
def kernel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"splice test ({sys.version.split()[0]})",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    return work


def _run(nb: Any, cwd: Path, timeout: int) -> Any:
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=timeout, resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _text(cell: Any) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o["text"])
        elif "data" in o and "text/plain" in o["data"]:
            out.append(o["data"]["text/plain"])
    return "".join(out)


def test_cell_functions(kernel_env: Path) -> None:
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[
        v4.new_code_cell("import splice, linecache"),
        v4.new_code_cell(
            "def scale(x, k):\n"
            "    y = x * k\n"
            "    return y + 1\n"
        ),
        v4.new_code_cell(
            "print('file', scale.__code__.co_filename, 'cached', scale.__code__.co_filename in linecache.cache)\n"
            "code = scale.__code__\n"
            "with splice.breakpoint(scale, line='return y + 1') as bp:\n"
            "    by_text = bp.eval('y')\n"
            "    bp.exec('y = -y')\n"
            "    r = scale(3, 2)\n"
            "with splice.breakpoint(scale, line=2) as bp2:\n"
            "    by_number = bp2.eval('(x, k)')\n"
            "    scale(5, 6)\n"
            "with splice.capture_call(scale) as call:\n"
            "    scale(4, 5)\n"
            "print('by text', by_text, r)\n"
            "print('by number', by_number)\n"
            "print('captured', dict(call.args), call.locals['y'], call.return_value)\n"
            "print('restored', scale.__code__ is code, scale(3, 2))\n"
        ),
        # a function of a cell probed from later cells, nothing else kept:
        # IPython's own references to cell code must not make each enter
        # search the heap (HeapSearchWarning on the second search)
        v4.new_code_cell("def shift(x):\n    y = x + 1\n    return y\n"),
        *[
            v4.new_code_cell(
                "import warnings\n"
                "warnings.simplefilter('always')\n"
                "with splice.capture_call(shift) as c:\n"
                f"    shift({i})\n"
                "print('shift', c.return_value)\n"
            )
            for i in range(3)
        ],
    ])
    _run(nb, kernel_env, timeout=120)
    out = _text(nb.cells[2])
    print(out)
    assert "by text [6] -5" in out
    assert "by number [(5, 6)]" in out
    assert "captured {'x': 4, 'k': 5} 20 21" in out
    assert "restored True 7" in out
    shifts = [_text(c) for c in nb.cells[4:7]]
    assert shifts == [f"shift {i + 1}\n" for i in range(3)], shifts


def test_committed_notebook_is_clean() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit the notebook with outputs cleared"


def test_attention_notebook(kernel_env: Path) -> None:
    if sys.version_info[:2] not in [(3, m) for m in ML_MINORS]:
        pytest.skip("the ML packages are installed for CPython " + " and ".join(f"3.{m}" for m in ML_MINORS))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    _run(nb, kernel_env, timeout=600)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells), "not every cell ran"
    for c in code_cells:
        errors = [o for o in c.outputs if o.get("output_type") == "error"]
        assert not errors, errors
    texts = [_text(c) for c in code_cells]
    for t in texts:
        if t.strip():
            print(t.rstrip())
    # the walkthrough keeps the original code objects weakly: no probe in it searches the heap
    assert not [t for t in texts if "HeapSearchWarning" in t]
    restore = next(t for t in texts if "bit-identical" in t)
    assert "original code objects restored: True" in restore
    assert "embeddings bit-identical to the first run: True" in restore
    patch = next(t for t in texts if "breakpoint hits" in t)
    assert "patched inside the with block: True; breakpoint hits: 6" in patch
    # the plots are inline images
    pngs = sum("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs)
    assert pngs >= 2, f"{pngs} inline images"
    # the captured call displays as HTML: names, types, shapes and dtypes
    pages = [o["data"]["text/html"] for c in code_cells for o in c.outputs if "text/html" in o.get("data", {})]
    call_page = next(p for p in pages if "<code>forward()</code>" in p)
    assert "attn_weights" in call_page and "torch.Tensor" in call_page
    assert "shape (2, 12, " in call_page and "dtype torch.float32" in call_page
    cell_fn = next(t for t in texts if "by line number" in t)
    assert "restored: True" in cell_fn and "temperature [0.5]" in cell_fn

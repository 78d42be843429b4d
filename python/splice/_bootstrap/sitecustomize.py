"""The ``sitecustomize`` of the children of ``python -m splice run``.

``run`` puts this directory first in the ``PYTHONPATH`` its children
inherit, so ``site`` imports this module in every child Python process
before any user code. It sets the run's probes
(:func:`splice.cli.child.bootstrap`) and then runs the ``sitecustomize``
that would have been imported without it (the next one on ``sys.path``),
which becomes ``sys.modules["sitecustomize"]``: an existing
``sitecustomize`` is chained, never replaced. This directory is removed from
``sys.path`` (not from ``PYTHONPATH``, which grandchildren need).
"""

import os
import sys


def _splice_bootstrap() -> None:
    if not os.environ.get("SPLICE_RUN_DIR"):
        return
    if os.environ.get("SPLICE_RUN_REEXEC") == str(os.getpid()):
        return  # python -m splice.cli.child sets the probes up itself
    try:
        from splice.cli.child import bootstrap
    except Exception:  # another interpreter, or splice not installed there
        return
    try:
        bootstrap()
    except Exception as e:  # never stop the child: it runs without probes
        print(f"splice run (pid {os.getpid()}): probes not set in this process: {type(e).__name__}: {e}",
              file=sys.stderr, flush=True)


def _chain() -> None:
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module  # what `import sitecustomize` gives from now on
    spec.loader.exec_module(module)


_splice_bootstrap()
_chain()

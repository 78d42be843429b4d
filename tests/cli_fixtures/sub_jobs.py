"""Subprocess fixture: runs subchild.py as ranks 0 and 1 (RANK, LOCAL_RANK,
WORLD_SIZE in its environment; rank 1 with `python -u`), then a `python -c`
child that imports mathlib. Prints one JSON line: {"main": pid, "children":
[what each subchild.py printed], "c_child": pid}."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    children = []
    for rank in (0, 1):
        env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
        flags = ["-u"] if rank == 1 else []
        p = subprocess.run([sys.executable, *flags, os.path.join(HERE, "subchild.py"), str(rank)], env=env,
                           capture_output=True, text=True)
        sys.stderr.write(p.stderr)
        assert p.returncode == rank, (p.returncode, p.stderr)  # rank 1 exits with status 1
        children.append(json.loads(p.stdout))
    p = subprocess.run([sys.executable, "-c", "import mathlib, os; mathlib.softmax([1.0, 2.0]); print(os.getpid())"],
                       cwd=HERE, capture_output=True, text=True, check=True)
    print(json.dumps({"main": os.getpid(), "children": children, "c_child": int(p.stdout)}), flush=True)


if __name__ == "__main__":
    main()

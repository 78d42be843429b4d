"""Run by sub_jobs.py: python subchild.py RANK (exits with status RANK)."""

import json
import os
import sys


def scale(x, factor):
    y = x * factor
    return y


if __name__ == "__main__":
    rank = int(sys.argv[1])
    vals = [scale(i, 2) for i in range(1, 4)]
    custom = sys.modules.get("sitecustomize")
    print(json.dumps({
        "pid": os.getpid(), "rank": rank, "vals": vals, "argv": sys.argv, "name": __name__,
        "unbuffered": sys.stdout.write_through, "user_sitecustomize": getattr(custom, "MARK", None),
        "path0": sys.path[0],
    }))
    sys.exit(rank)

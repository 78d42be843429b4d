"""Forks a child that calls f and exits normally; prints f(1) before, in the
child and after (for run --no-follow-children: the child runs untouched)."""
import os
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)  # (3.12+: fork of a threaded process)


def f(x):
    y = x * 2
    return y


print("parent before", f(1), flush=True)
pid = os.fork()
if pid == 0:
    print("child", f(1), flush=True)
    sys.exit(0)
os.waitpid(pid, 0)
print("parent after", f(1), flush=True)

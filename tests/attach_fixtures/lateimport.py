"""Imported by loop_target.py only after a while (--late-import)."""


def bump(i):
    k = i + 1
    return k

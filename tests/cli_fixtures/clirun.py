"""Run with python -m clirun (the -m mode of the CLI tests)."""

import sys

import mathlib


def go():
    m = mathlib.Model(3)
    out = m.forward([0.0, 1.0])
    print(f"clirun name={__name__} argv={sys.argv[1:]} peak={out.max():.4f}")


go()

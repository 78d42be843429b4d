"""CLI test script: python script.py [normal|exit N|raise|strexit] [values...]"""

import sys

import mathlib


def combine(outputs):
    total = 0.0
    for o in outputs:
        peak = o.max()
        total += peak
    return total


def main(argv):
    model = mathlib.Model(2)
    outputs = [model.forward([1.0, 2.0, 3.0]), model.forward([0.5, 0.5])]
    result = combine(outputs)
    print(f"argv={argv} name={__name__} result={result:.4f}")
    print(f"file={__file__} path0={sys.path[0]}")
    mode = argv[1] if len(argv) > 1 else "normal"
    if mode == "exit":
        sys.exit(int(argv[2]))
    if mode == "raise":
        raise ValueError("boom from the script")
    if mode == "strexit":
        sys.exit("a message")
    return result


if __name__ == "__main__":
    main(sys.argv)

"""`show` must not run this module: importing it prints a marker."""

print("LOUD MODULE RAN")


def scale(xs, k):
    ys = [x * k for x in xs]
    total = sum(ys)
    return total

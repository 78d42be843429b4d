"""A small module the CLI test script imports (numpy-free: FakeArray has the
.shape/.dtype the summary reads by duck typing)."""

import math


class FakeArray:
    """A list of floats that looks like an array to splice's value summary."""

    def __init__(self, values):
        self.values = list(values)

    @property
    def shape(self):
        return (len(self.values),)

    @property
    def dtype(self):
        return "float64"

    def __mul__(self, k):
        return FakeArray(v * k for v in self.values)

    def max(self):
        return max(self.values)

    def __repr__(self):
        return f"FakeArray({self.values!r})"


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    s = sum(e)
    return FakeArray(v / s for v in e)


class Model:
    def __init__(self, scale):
        self.scale = scale

    def forward(self, scores):
        attn = softmax(scores)
        out = attn * self.scale
        return out

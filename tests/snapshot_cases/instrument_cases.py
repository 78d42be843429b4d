"""Functions instrumented for the disassembly snapshots in snapshots/instrument/.

`dump_instrumented.py` applies a probe to each and prints the disassembly
before and after; `crates/splice-rewrite/tests/instrument_snapshots.rs` keeps
them as insta snapshots. Each case names its function, the line (by text) and
the snippet; see CASES in dump_instrumented.py.
"""

import contextlib


def loop_body(xs):
    acc = 0
    for x in xs:
        x = x * 2
        acc += x
    return acc


def while_cond(n):
    i = 0
    while i < n:
        i += 1
    return i


def try_except(a, b):
    try:
        q = a / b
    except ZeroDivisionError:
        q = None
    return q


def try_finally(path):
    f = open(path)
    try:
        data = f.read()
    finally:
        f.close()
    return data


def with_body(lock, items):
    with lock:
        items.append(1)
    return items


def closure(n):
    total = 0

    def add(k):
        nonlocal total
        total += k
        return total

    return add(n)


class Base:
    def f(self):
        return 1


class Child(Base):
    def __init__(self):
        self.__secret = 41

    def f(self):
        value = super().f()
        value += self.__secret
        return value


def generator(n):
    for i in range(n):
        y = yield i
        if y:
            n += y


async def coroutine(x):
    import asyncio

    await asyncio.sleep(0)
    x = x + 1
    return x


def comprehension(xs):
    ys = [x * x for x in xs if x]
    return ys


def several_returns(x):
    if x > 0:
        return "pos"
    if x < 0:
        return "neg"
    return None


def big_function(x):
    if x:
        x = x + 1
        x = x + 2
        x = x + 3
        x = x + 4
        x = x + 5
        x = x + 6
        x = x + 7
        x = x + 8
        x = x + 9
        x = x + 10
        x = x + 11
        x = x + 12
        x = x + 13
        x = x + 14
        x = x + 15
        x = x + 16
        x = x + 17
        x = x + 18
        x = x + 19
        x = x + 20
        x = x + 21
        x = x + 22
        x = x + 23
        x = x + 24
        x = x + 25
        x = x + 26
        x = x + 27
        x = x + 28
        x = x + 29
        x = x + 30
        x = x + 31
        x = x + 32
        x = x + 33
        x = x + 34
        x = x + 35
        x = x + 36
        x = x + 37
        x = x + 38
        x = x + 39
        x = x + 40
        x = x + 41
        x = x + 42
        x = x + 43
        x = x + 44
        x = x + 45
        x = x + 46
        x = x + 47
        x = x + 48
        x = x + 49
        x = x + 50
    x = x * 2
    return x


_ = contextlib


def generator_with_cell(n):
    total = 0

    def add(x):
        nonlocal total
        total += x

    for i in range(n):
        add(i)
        yield total


def read_after_delete(x, y):
    z = x + y
    w = z * 2
    return x + z + w

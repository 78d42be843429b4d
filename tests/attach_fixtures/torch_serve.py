"""A tiny torch model "serving" requests in a loop (CPU), for the attach tests.

Two transformer-style blocks; ``Attention.forward`` computes the attention
weights in the local ``attn`` (batch, heads, tokens, tokens). Prints one line
per ``--every`` requests: the request number, a checksum of the output, and
whether ``Attention.forward.__code__`` is its original code object. Stops when
stdin closes or after ``--max-seconds``.
"""

import argparse
import os
import sys
import threading
import time

import torch
from torch import nn


class Attention(nn.Module):
    def __init__(self, dim=16, heads=2, index=0):
        super().__init__()
        self.heads = heads
        self.index = index
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim=16, index=0):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = Attention(dim, index=index)

    def forward(self, x):
        return x + self.attn(self.norm(x))


class Model(nn.Module):
    def __init__(self, dim=16, depth=2):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(dim, i) for i in range(depth)])

    def forward(self, x):
        return self.blocks(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--max-seconds", type=float, default=120)
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = Model().eval()
    x = torch.randn(1, 6, 16)
    orig = Attention.forward.__code__
    done = threading.Event()

    def watch_stdin():
        try:
            sys.stdin.read()
        finally:
            done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"pid={os.getpid()} ready", flush=True)
    start = time.monotonic()
    i = 0
    while not done.is_set() and time.monotonic() - start < a.max_seconds:
        with torch.no_grad():
            y = model(x)
        if i % a.every == 0:
            print(f"request={i} checksum={float(y.sum()):.6f} orig={Attention.forward.__code__ is orig} "
                  f"threads={threading.active_count()}", flush=True)
        time.sleep(0.005)
        i += 1


if __name__ == "__main__":
    main()

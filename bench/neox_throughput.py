#!/usr/bin/env python3
"""Training throughput of a Pythia-shaped GPTNeoXForCausalLM in Hugging Face Transformers:
SGD steps at batch 1 on CPU. The Python half of bench/neox_throughput.sh (same flags as the
Rust example llm/examples/train_throughput.rs). Prints one JSON line."""
import argparse
import json
import time

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--vocab", type=int, default=50304)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    cfg = GPTNeoXConfig(
        vocab_size=a.vocab, hidden_size=a.width, num_hidden_layers=a.depth,
        num_attention_heads=a.heads, intermediate_size=4 * a.width, rotary_pct=0.25,
        rotary_emb_base=10000.0, max_position_embeddings=max(2048, a.context),
        use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=0,
    )
    model = GPTNeoXForCausalLM(cfg).float().train()
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    ids = torch.randint(0, a.vocab, (1, a.context))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = model(ids, labels=ids).loss
        loss.backward()
        opt.step()
        return loss.item()

    last = float("nan")
    for _ in range(a.warmup):
        last = step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        last = step()
    secs = time.perf_counter() - t0
    print(json.dumps({
        "impl": "transformers", "tokens_per_s": round(a.steps * a.context / secs, 1),
        "step_ms": round(1000 * secs / a.steps, 2), "steps": a.steps, "context": a.context,
        "width": a.width, "depth": a.depth, "heads": a.heads, "vocab": a.vocab,
        "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()),
        "last_loss": round(last, 4), "attn": model.config._attn_implementation,
    }))


if __name__ == "__main__":
    main()

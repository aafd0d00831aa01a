#!/usr/bin/env python3
"""Training throughput of a causal LM in Hugging Face Transformers: SGD steps at batch 1 on
CPU. The Python half of bench/neox_throughput.sh and bench/family_throughput.sh (same flags
as the Rust example llm/examples/train_throughput.rs). Prints one JSON line.

By default a Pythia-shaped GPTNeoXForCausalLM of --width/--depth/--heads/--vocab;
`--model DIR` trains the model directory DIR instead (any family);
`--make-model DIR --family F` saves a random model of family F (gpt_neox, gpt2, llama,
qwen2, mistral, imagegpt) of that shape to DIR and exits."""
import argparse
import json
import time

import torch
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM


def family_model(family, a):
    """A random model of `family` with the bench shape (dropout 0, untied unless the family
    ties by default: GPT-2)."""
    import transformers as tf

    d, L, h, v = a.width, a.depth, a.heads, a.vocab
    llama = dict(vocab_size=v, hidden_size=d, intermediate_size=4 * d, num_hidden_layers=L,
                 num_attention_heads=h, num_key_value_heads=max(1, h // 2),
                 max_position_embeddings=max(2048, a.context))
    make = {
        "gpt_neox": lambda: GPTNeoXForCausalLM(neox_config(a)),
        "gpt2": lambda: tf.GPT2LMHeadModel(tf.GPT2Config(
            vocab_size=v, n_positions=max(1024, a.context), n_embd=d, n_layer=L, n_head=h,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
        "llama": lambda: tf.LlamaForCausalLM(tf.LlamaConfig(**llama)),
        "qwen2": lambda: tf.Qwen2ForCausalLM(tf.Qwen2Config(**llama)),
        "mistral": lambda: tf.MistralForCausalLM(tf.MistralConfig(**llama, sliding_window=None)),
        "imagegpt": lambda: tf.ImageGPTForCausalImageModeling(tf.ImageGPTConfig(
            vocab_size=513, n_positions=max(1024, a.context), n_embd=d, n_layer=L, n_head=h,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
    }
    return make[family]()


def neox_config(a):
    return GPTNeoXConfig(
        vocab_size=a.vocab, hidden_size=a.width, num_hidden_layers=a.depth,
        num_attention_heads=a.heads, intermediate_size=4 * a.width, rotary_pct=0.25,
        rotary_emb_base=10000.0, max_position_embeddings=max(2048, a.context),
        use_parallel_residual=True, hidden_act="gelu", tie_word_embeddings=False,
        bos_token_id=0, eos_token_id=0,
    )


def load_model(path):
    from transformers import AutoConfig, AutoModelForCausalLM, ImageGPTForCausalImageModeling

    image = AutoConfig.from_pretrained(path).model_type == "imagegpt"
    cls = ImageGPTForCausalImageModeling if image else AutoModelForCausalLM
    return cls.from_pretrained(path, dtype=torch.float32)


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
    ap.add_argument("--model", default=None)
    ap.add_argument("--make-model", default=None)
    ap.add_argument("--family", default="gpt_neox")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.make_model:
        family_model(a.family, a).float().save_pretrained(a.make_model)
        return
    if a.model:
        model = load_model(a.model).float().train()
    else:
        model = GPTNeoXForCausalLM(neox_config(a)).float().train()
    vocab = model.config.vocab_size - (1 if model.config.model_type == "imagegpt" else 0)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    ids = torch.randint(0, vocab, (1, a.context))

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
        "model_type": model.config.model_type, "vocab": vocab,
        "threads": torch.get_num_threads(), "params": sum(p.numel() for p in model.parameters()),
        "last_loss": round(last, 4), "attn": model.config._attn_implementation,
    }))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The paper's cyclic fine-tuning protocol written with Hugging Face Transformers.

Reference for `reawaken llm probe` (parity test and benchmark). Like the authors' code:
per-document evaluation at batch size 1, M steps of torch.optim.SGD (or Adam re-created
for every document) on one document padded to C with eos (labels -100 on padding).

  probe_hf.py --model DIR [--tokenizer bytes] --docs FILE --tasks T --context C \
              --steps M --epochs E --lr LR [--optimizer sgd|adam] --out losses.npy
  probe_hf.py --make-model DIR --width 256 --depth 4 --heads 4 --seed 0   (random init,
              byte vocabulary 257, saved with save_pretrained; no tokenizer.json)

Documents: a .txt with blank-line-separated documents, a directory of .txt files, a
.jsonl (--text-field), or for Image GPT a .npy of N×H×W×3 uint8 images (tokenised by the
model directory's ImageGPTImageProcessor; needs Pillow); the first T are used
(`--sample first`).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch


def read_docs(path, text_field):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(".txt"))
        return [open(os.path.join(path, n), encoding="utf-8").read().strip() for n in names]
    if path.endswith(".jsonl"):
        out = []
        for line in open(path, encoding="utf-8"):
            if line.strip():
                out.append(json.loads(line)[text_field])
        return out
    docs, cur = [], []
    for line in open(path, encoding="utf-8").read().splitlines():
        if line.strip():
            cur.append(line)
        elif cur:
            docs.append("\n".join(cur))
            cur = []
    if cur:
        docs.append("\n".join(cur))
    return docs


def make_model(args):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(args.seed)
    cfg = GPTNeoXConfig(
        vocab_size=257,
        hidden_size=args.width,
        num_hidden_layers=args.depth,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.width,
        rotary_pct=0.25,
        max_position_embeddings=2048,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=256,
        eos_token_id=256,
        hidden_act="gelu",
    )
    model = GPTNeoXForCausalLM(cfg)
    model.save_pretrained(args.make_model, safe_serialization=True)
    print(f"saved a random-init model to {args.make_model}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-model")
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--model")
    ap.add_argument("--tokenizer", default=None, help="bytes, or a tokenizer.json (default: the model's)")
    ap.add_argument("--docs")
    ap.add_argument("--text-field", default="text")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--out", default="losses_hf.npy")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.make_model:
        make_model(args)
        return

    from transformers import AutoConfig, AutoModelForCausalLM, ImageGPTForCausalImageModeling

    t0 = time.time()
    image_gpt = AutoConfig.from_pretrained(args.model).model_type == "imagegpt"
    cls = ImageGPTForCausalImageModeling if image_gpt else AutoModelForCausalLM
    model = cls.from_pretrained(args.model, dtype=torch.float32)
    model.train()
    if args.docs.endswith(".npy"):
        from transformers import ImageGPTImageProcessor

        processor = ImageGPTImageProcessor.from_pretrained(args.model)
        images = np.load(args.docs)
        encode = lambda img: processor([img], return_tensors="np")["input_ids"][0].tolist()
        eos = 0
    elif args.tokenizer == "bytes":
        encode = lambda s: list(s.encode("utf-8"))
        eos = 256
    else:
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(args.tokenizer or os.path.join(args.model, "tokenizer.json"))
        encode = lambda s: tok.encode(s).ids
        eos = model.config.eos_token_id if model.config.eos_token_id is not None else 0
    docs = list(images) if args.docs.endswith(".npy") else read_docs(args.docs, args.text_field)
    docs = docs[: args.tasks]
    if len(docs) < args.tasks:
        sys.exit(f"only {len(docs)} documents")
    toks = [encode(d)[: args.context] for d in docs]
    C = args.context

    def evaluate():
        out = []
        with torch.no_grad():
            for t in toks:
                ids = torch.tensor([t])
                out.append(model(input_ids=ids, labels=ids).loss.item())
        return out

    rows = [evaluate()]
    order = []
    for _ in range(args.epochs):
        for i, t in enumerate(toks):
            ids = torch.full((1, C), eos, dtype=torch.long)
            ids[0, : len(t)] = torch.tensor(t)
            labels = ids.clone()
            labels[0, len(t):] = -100
            attn = torch.zeros((1, C), dtype=torch.long)
            attn[0, : len(t)] = 1
            if args.optimizer == "adam":
                opt = torch.optim.Adam(model.parameters(), lr=args.lr)
            else:
                opt = torch.optim.SGD(model.parameters(), lr=args.lr)
            for _ in range(args.steps):
                loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
                loss.backward()
                opt.step()
                opt.zero_grad()
            rows.append(evaluate())
            order.append(i)
    losses = np.array(rows, dtype=np.float32)
    np.save(args.out, losses)
    print(json.dumps({"wall_s": time.time() - t0, "rows": len(rows), "out": args.out}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Real English documents for the scale study, from text already on the machine.

The source is Jules Verne, "Around the World in Eighty Days" (Project Gutenberg EBook #103,
public domain in the USA, Project Gutenberg License), which the crates.io package
`esaxx-rs` 0.1.10 ships as `data/eighty.txt`. `esaxx-rs` is a dependency of the
`tokenizers` crate, so `cargo build` has already put it in the Cargo registry.

  gutenberg_docs.py SOURCE.txt OUT.txt [--min-chars 128]

Keeps the text between the "*** START" and "*** END" marks, splits it into paragraphs at
blank lines, joins each paragraph's lines with single spaces, drops headings and
paragraphs shorter than --min-chars, and writes the rest as a blank-line-separated .txt
(the format `reawaken llm probe --docs FILE.txt` reads). Prints how many it kept.
"""
import argparse
import re
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("out")
    ap.add_argument("--min-chars", type=int, default=128)
    a = ap.parse_args()
    text = open(a.source, encoding="utf-8-sig").read().replace("\r\n", "\n")
    start = text.find("*** START")
    end = text.find("*** END")
    if start < 0 or end < 0:
        sys.exit(f"{a.source}: no Project Gutenberg START/END marks")
    body = text[text.index("\n", start) + 1 : end]
    paras = []
    for block in re.split(r"\n\s*\n", body):
        p = " ".join(block.split())
        if len(p) < a.min_chars or p.upper() == p:  # too short, or an all-caps heading
            continue
        paras.append(p)
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n\n".join(paras) + "\n")
    print(f"{len(paras)} paragraphs of >= {a.min_chars} characters -> {a.out}")


if __name__ == "__main__":
    main()

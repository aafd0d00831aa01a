#!/usr/bin/env python3
"""A CPU-bound neighbour for bench/busy_machine.sh: a numpy matrix loop (400x400 products,
numpy's default BLAS threads) for the given number of seconds (default 60)."""
import sys
import time

import numpy as np

a = np.random.default_rng(0).random((400, 400))
end = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 60)
while time.time() < end:
    a = a @ a
    a /= np.abs(a).max()

"""Every default of the bench, in one table: the standalone bench and `hybridctl bench` read it."""

from __future__ import annotations

# What one bench run measures (PLAN.json's keys; `bench run` and `hybridctl bench` options).
REPETITIONS = 5
PROMPT_TOKENS = 512
GEN_TOKENS = 128
THREADS: int | None = None  # the machine's physical cores (machine.default_threads)
MIN_CONTEXT_TOKENS = 64  # the context holds one prompt or one generation run, at least this
MAX_SPREAD = 0.05  # repetitions spread wider (max - min over mean): the figure is flagged

# How the model server under test is set up (llama-bench's and llama-server's defaults).
BATCH_SIZE = 2048  # llama-bench's -b
UBATCH_SIZE = 512  # llama-bench's -ub
PARALLEL_SLOTS = 1
KV_TYPE = "f16"
KV_TYPES = ("f16", "q8_0", "q4_0")
REPACK = True
FLASH_ATTN: bool | None = None  # llama.cpp's auto
MEASURE_BANDWIDTH = True

# Where and how long.
TIMEOUT_S = 3600.0  # one model's child process
MODELS_DIR = "~/.cache/hybridctl-bench/models"  # downloads of models given by uri
LOCAL_RUN_TIMEOUT_S = 24 * 3600.0  # a whole bench run on this machine

# `bench serve` / `hybridctl bench --serve`: the load test.
LOAD_CLIENTS = 4
LOAD_REQUESTS = 20
LOAD_MAX_CLIENTS = 256  # a load test's bounds: every loop stops by itself
LOAD_MAX_REQUESTS = 10_000
LOAD_MAX_TOKENS = 64
LOAD_PROMPT = "Write three short sentences about the sea."
LOAD_REQUEST_TIMEOUT_S = 120.0
LOAD_DURATION_LIMIT_S = 600.0

# `hybridctl bench --tune`: the sweep of server settings.
TUNE_BUDGET_S = 600
TUNE_REPETITIONS = 3
TUNE_PROMPT_TOKENS = 64
TUNE_GEN_TOKENS = 32

#!/usr/bin/env bash
# Measures llama.cpp's continuous-batching curve on this machine's GPU and writes the efficiencies
# hybridctl's planner uses (hybridctl/planning/batching.py), with provenance "measured".
#
# What it does, in one call (no registry needed once the source tree is here):
#   1. a trimmed llama.cpp source tree (ggml, src, include, common, vendor, cmake, gguf-py and the
#      batched-bench and quantize tools: about 40 MB) from the llama-cpp-python sdist the project
#      already vendors (.cache/local-images/sdist), unless --tree names one;
#   2. builds only llama-batched-bench and llama-quantize, with CUDA for this card's architecture
#      only (--cpu: without CUDA, the path the tests run);
#   3. writes 1B- and 8B-shaped random-weight models (scripts/make_model.py, F16) and quantizes
#      them to Q4_K_M with the llama-quantize just built;
#   4. runs llama-batched-bench at 1, 2, 4, 8, 16, 32 and 64 parallel sequences;
#   5. writes the JSON: the table per model, and the fractions of the datasheet reached (memory
#      bandwidth alone, FP16 tensor peak batched and in prompts), with the card, driver, date and
#      command.
#
# Usage: scripts/gpu_calibrate.sh [--cpu] [--shapes "tinyllama-1.1b llama-3-8b"]
#          [--sequences "1 2 4 8 16 32 64"] [--prompt 128] [--gen 128]
#          [--bandwidth-gbs X --tflops Y] [--tree DIR] [--work DIR] [--out FILE] [--trim-only]
#          [--report-only]
# --report-only writes the JSON from the models and batched-bench logs already in --work.
# On a GPU the datasheet figures come from the card's name (nvidia-smi); --bandwidth-gbs and
# --tflops override them (and are required with --cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

CPU=0
SHAPES="tinyllama-1.1b llama-3-8b"
SEQUENCES="1 2 4 8 16 32 64"
PROMPT=128
GEN=128
BANDWIDTH=""
TFLOPS=""
TREE=""
WORK="$REPO/.cache/gpu-calibrate"
OUT="$REPO/out/gpu_calibration.json"
SDIST="$REPO/.cache/local-images/sdist/llama_cpp_python-0.3.36.tar.gz"
TRIM_ONLY=0
REPORT_ONLY=0
ARGS="$*"

die() { echo "gpu_calibrate: $*" >&2; exit 2; }
log() { echo "gpu_calibrate: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) CPU=1 ;;
    --shapes) SHAPES="$2"; shift ;;
    --sequences) SEQUENCES="$2"; shift ;;
    --prompt) PROMPT="$2"; shift ;;
    --gen) GEN="$2"; shift ;;
    --bandwidth-gbs) BANDWIDTH="$2"; shift ;;
    --tflops) TFLOPS="$2"; shift ;;
    --tree) TREE="$2"; shift ;;
    --work) WORK="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --sdist) SDIST="$2"; shift ;;
    --trim-only) TRIM_ONLY=1 ;;
    --report-only) REPORT_ONLY=1 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
for n in $PROMPT $GEN $SEQUENCES; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "not a positive whole number: $n"
done

# --- 1. the trimmed source tree ----------------------------------------------------------------
TREE="${TREE:-$WORK/llama.cpp}"
if [ "$REPORT_ONLY" = 0 ] && [ ! -f "$TREE/CMakeLists.txt" ]; then
  [ -f "$SDIST" ] || die "no llama.cpp tree at $TREE and no sdist at $SDIST (scripts/local_images.sh downloads it)"
  log "trimming llama.cpp from $(basename "$SDIST") into $TREE"
  top="$(basename "$SDIST" .tar.gz)"
  tmp="$WORK/tree.tmp"
  rm -rf "$tmp" && mkdir -p "$tmp"
  parts=()
  for part in CMakeLists.txt LICENSE cmake ggml src include common vendor gguf-py licenses \
    tools/batched-bench tools/quantize; do
    parts+=("$top/vendor/llama.cpp/$part")
  done
  tar -C "$tmp" -xzf "$SDIST" "${parts[@]}"
  # Backends no NVIDIA or CPU build compiles.
  for gone in ggml-vulkan ggml-sycl ggml-metal ggml-opencl ggml-cann ggml-webgpu ggml-zdnn \
    ggml-hexagon ggml-musa ggml-rpc; do
    rm -rf "$tmp/$top/vendor/llama.cpp/ggml/src/$gone"
  done
  printf 'llama_add_compile_flags()\nadd_subdirectory(batched-bench)\nadd_subdirectory(quantize)\n' \
    >"$tmp/$top/vendor/llama.cpp/tools/CMakeLists.txt"
  mkdir -p "$(dirname "$TREE")"
  rm -rf "$TREE" && mv "$tmp/$top/vendor/llama.cpp" "$TREE" && rm -rf "$tmp"
fi
[ "$REPORT_ONLY" = 1 ] || log "source tree $TREE ($(du -sh "$TREE" | cut -f1))"
[ "$TRIM_ONLY" = 1 ] && exit 0

# --- 2. build ----------------------------------------------------------------------------------
JOBS="$(nproc)"
CARD="cpu"
DRIVER=""
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF
  -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_APP=OFF)
if [ "$CPU" = 1 ]; then
  BUILD="$WORK/build-cpu"
  cmake_args+=(-DGGML_CUDA=OFF)
  [ -n "$BANDWIDTH" ] && [ -n "$TFLOPS" ] || die "--cpu needs --bandwidth-gbs and --tflops"
  NGL=0
else
  command -v nvidia-smi >/dev/null || die "no nvidia-smi: no GPU here (use --cpu to test the script)"
  CARD="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)"
  DRIVER="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
  ARCH="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)"
  BUILD="$WORK/build-cuda-$ARCH"
  cmake_args+=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$ARCH")
  NGL=999
fi
if [ "$REPORT_ONLY" = 0 ] && { [ ! -x "$BUILD/bin/llama-batched-bench" ] ||
  [ ! -x "$BUILD/bin/llama-quantize" ]; }; then
  log "building llama-batched-bench and llama-quantize in $BUILD ($JOBS jobs)"
  cmake -S "$TREE" -B "$BUILD" "${cmake_args[@]}" >"$WORK/cmake.log" 2>&1 ||
    { tail -30 "$WORK/cmake.log" >&2; die "cmake failed (log: $WORK/cmake.log)"; }
  cmake --build "$BUILD" --target llama-batched-bench llama-quantize -j "$JOBS" \
    >"$WORK/build.log" 2>&1 ||
    { tail -30 "$WORK/build.log" >&2; die "build failed (log: $WORK/build.log)"; }
fi

# --- 3. models ---------------------------------------------------------------------------------
export PYTHONPATH="$TREE/gguf-py:$REPO${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$WORK/models"
models=()
for shape in $SHAPES; do
  model="$WORK/models/$shape-q4_k_m.gguf"
  if [ ! -f "$model" ]; then
    [ "$REPORT_ONLY" = 0 ] || die "--report-only: no model $model"
    log "writing a $shape-shaped Q4_K_M model"
    python3 "$REPO/scripts/make_model.py" --shape "$shape" --quant F16 --out "$model.f16" >&2
    "$BUILD/bin/llama-quantize" "$model.f16" "$model" Q4_K_M "$JOBS" >"$WORK/quantize.log" 2>&1 ||
      { tail -20 "$WORK/quantize.log" >&2; die "llama-quantize failed"; }
    rm -f "$model.f16"
  fi
  models+=("$shape=$model")
done

# --- 4. run ------------------------------------------------------------------------------------
max_pl=1
for n in $SEQUENCES; do [ "$n" -gt "$max_pl" ] && max_pl="$n"; done
npl="$(echo "$SEQUENCES" | tr ' ' ',')"
ctx=$(( (PROMPT + GEN) * max_pl ))
mkdir -p "$WORK/runs" "$(dirname "$OUT")"
for entry in "${models[@]}"; do
  [ "$REPORT_ONLY" = 0 ] || break
  shape="${entry%%=*}"
  log "batched-bench $shape: sequences $npl, prompt $PROMPT, generation $GEN"
  "$BUILD/bin/llama-batched-bench" -m "${entry#*=}" -c "$ctx" -b 2048 -ub 512 -npp "$PROMPT" \
    -ntg "$GEN" -npl "$npl" -ngl "$NGL" -t "$JOBS" >"$WORK/runs/$shape.log" 2>&1 ||
    { tail -20 "$WORK/runs/$shape.log" >&2; die "llama-batched-bench failed on $shape"; }
done

# --- 5. the efficiencies -----------------------------------------------------------------------
python3 - "$OUT" "$CARD" "$DRIVER" "$BANDWIDTH" "$TFLOPS" "$CPU" "$WORK" "scripts/gpu_calibrate.sh $ARGS" \
  "${models[@]}" <<'PY'
"""Reads batched-bench's tables and writes the efficiencies with their provenance."""
import datetime
import json
import sys
from pathlib import Path

import gguf

out, card, driver, bandwidth, tflops, cpu, work, command, *models = sys.argv[1:]
# Datasheet figures (GB/s, dense FP16 tensor TFLOP/s) for the cards hybridctl's tiers use.
DATASHEET = {"T4": (320, 65), "A10G": (600, 70), "A10": (600, 125), "L4": (300, 121),
             "A100": (2039, 312), "H100": (3350, 989), "H200": (4800, 989), "L40S": (864, 362)}
if not bandwidth or not tflops:
    key = next((k for k in sorted(DATASHEET, key=len, reverse=True) if k in card.upper()), None)
    if key is None:
        sys.exit(f"gpu_calibrate: no datasheet figures for {card!r}: pass --bandwidth-gbs and --tflops")
    bandwidth, tflops = bandwidth or DATASHEET[key][0], tflops or DATASHEET[key][1]
bandwidth_gbs, peak_tflops = float(bandwidth), float(tflops)


def table(log: str) -> list[dict[str, float]]:
    rows = []
    for line in log.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[0].isdigit():
            pp, tg, b, n_kv = (int(c) for c in cells[:4])
            t_pp, s_pp, t_tg, s_tg, t, s = (float(c) for c in cells[4:])
            rows.append({"prompt": pp, "gen": tg, "sequences": b, "prompt_tokens_per_s": s_pp,
                         "gen_tokens_per_s": s_tg, "seconds": t})
    return rows


result = {"provenance": "measured", "backend": "cpu" if cpu == "1" else "cuda",
          "card": card, "driver": driver or None, "date": datetime.date.today().isoformat(),
          "command": command, "bandwidth_gbs": bandwidth_gbs, "fp16_tflops": peak_tflops,
          "models": {}}
for entry in models:
    shape, path = entry.split("=", 1)
    reader = gguf.GGUFReader(path)
    params = sum(int(t.n_elements) for t in reader.tensors)
    size = Path(path).stat().st_size
    rows = table(Path(work, "runs", f"{shape}.log").read_text())
    if not rows:
        sys.exit(f"gpu_calibrate: no batched-bench table for {shape} (see {work}/runs/{shape}.log)")
    alone = min(rows, key=lambda r: r["sequences"])
    best = max(rows, key=lambda r: r["gen_tokens_per_s"])
    prompt = max(rows, key=lambda r: r["prompt_tokens_per_s"])
    flops = 2 * params
    result["models"][shape] = {
        "parameters": params, "file_bytes": size, "rows": rows,
        # single stream: weight bytes read per second over the datasheet bandwidth
        "bandwidth_efficiency": alone["gen_tokens_per_s"] * size / (bandwidth_gbs * 1e9),
        # the best batched decode and the prompts: FLOP/s over the FP16 peak
        "decode_compute_efficiency": best["gen_tokens_per_s"] * flops / (peak_tflops * 1e12),
        "prompt_compute_efficiency": prompt["prompt_tokens_per_s"] * flops / (peak_tflops * 1e12),
        "best_sequences": best["sequences"],
    }
Path(out).write_text(json.dumps(result, indent=2) + "\n")
for shape, m in result["models"].items():
    print(f"{shape}: bandwidth {m['bandwidth_efficiency']:.1%}, batched decode "
          f"{m['decode_compute_efficiency']:.1%} (at {m['best_sequences']} sequences), prompt "
          f"{m['prompt_compute_efficiency']:.1%} of the datasheet")
print(f"wrote {out}")
PY

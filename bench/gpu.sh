#!/usr/bin/env bash
# Measures every GPU path of the engine against the CPU path on one machine (≤ 10 minutes) and
# prints a short table last. Run from anywhere:
#
#   bash bench/gpu.sh            # install the optional GPU packages if missing, probe, benchmark
#   bash bench/gpu.sh --check    # probe only: which paths load here and why the others do not
#   GPU_BENCH_NO_INSTALL=1 bash bench/gpu.sh   # benchmark what is installed, install nothing
#
# Paths: cpu = wasm (all cores, the project's kernels), tensorflow = @tensorflow/tfjs-node-gpu
# (CUDA; its install downloads libtensorflow, so it needs a network beyond npm), webgpu =
# @tensorflow/tfjs-backend-webgpu on Dawn (`webgpu` npm package; needs a Vulkan driver). A path
# that cannot load is reported with the reason and skipped; the script still exits 0, so a
# CPU-only machine gets a table of "unavailable" rows (the fallback the project's tests check).
# Each benchmark is BENCHMARK.md's cnn-small (bench/cnn-small.ts, which also checks the loss
# falls and the gradients match the cpu backend).
set -uo pipefail
cd "$(dirname "$0")/.."

CHECK_ONLY=0
[[ "${1:-}" == "--check" ]] && CHECK_ONLY=1
if [[ -n "${GPU_BENCH_OUT:-}" ]]; then
  OUT=$GPU_BENCH_OUT
  mkdir -p "$OUT"
else
  OUT=$(mktemp -d -t unlearn-bench-gpu-XXXXXX)
  [[ $CHECK_ONLY -eq 1 ]] && trap 'rm -rf "$OUT"' EXIT
fi
STEPS="${GPU_BENCH_STEPS:-30}"

echo "== machine"
node --version
nproc
(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader) || echo "no nvidia-smi"

if [[ ! -d node_modules/@tensorflow/tfjs-core ]]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund || { echo "npm ci failed: cannot benchmark"; exit 1; }
fi

if [[ $CHECK_ONLY -eq 0 && -z "${GPU_BENCH_NO_INSTALL:-}" ]]; then
  # Optional GPU packages, never saved to package.json: each may fail to install (no network, no CUDA).
  if [[ ! -d node_modules/@tensorflow/tfjs-node-gpu ]]; then
    echo "== trying @tensorflow/tfjs-node-gpu (downloads libtensorflow; fails without a network)"
    timeout 180 npm install --no-save --no-audit --no-fund @tensorflow/tfjs-node-gpu@4.22.0 >"$OUT/install-tfjs-node-gpu.log" 2>&1 \
      || echo "   install failed (see $OUT/install-tfjs-node-gpu.log)"
  fi
  if [[ ! -d node_modules/webgpu || ! -d node_modules/@tensorflow/tfjs-backend-webgpu ]]; then
    echo "== trying webgpu (Dawn) + @tensorflow/tfjs-backend-webgpu"
    timeout 180 npm install --no-save --no-audit --no-fund webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0 >"$OUT/install-webgpu.log" 2>&1 \
      || echo "   install failed (see $OUT/install-webgpu.log)"
  fi
fi

echo "== probe"
timeout 60 node --conditions=@unlearn-bench/source --import tsx bench/probe-gpu.ts | tee "$OUT/probe.jsonl"

declare -A STATUS
run_path() { # path backend
  local path=$1 backend=$2
  if [[ $CHECK_ONLY -eq 1 ]]; then STATUS[$path]="not run (--check)"; return; fi
  echo "== bench $path (--backend $backend)"
  timeout 170 node --conditions=@unlearn-bench/source --import tsx bench/cnn-small.ts --backend "$backend" --steps "$STEPS" --no-quickstart --out "$OUT/$path.jsonl" 2>"$OUT/$path.err"
  local rc=$?
  cat "$OUT/$path.jsonl" 2>/dev/null
  case $rc in
    0) STATUS[$path]="ok" ;;
    3) STATUS[$path]="unavailable: $(sed -n 's/^bench: backend [a-z]* unavailable: //p' "$OUT/$path.err" | head -1)" ;;
    124) STATUS[$path]="timed out" ;;
    *) STATUS[$path]="failed (rc $rc): $(tail -1 "$OUT/$path.err")" ;;
  esac
}

run_path cpu wasm
for path in tensorflow webgpu; do
  if grep -q "\"path\":\"$path\",\"ok\":true" "$OUT/probe.jsonl"; then
    run_path "$path" "$path"
  else
    STATUS[$path]="unavailable: $(grep "\"path\":\"$path\"" "$OUT/probe.jsonl" | sed 's/.*"detail":"\(.*\)"}/\1/')"
  fi
done

echo
echo "== cnn-small, batch 128, images/s (results in $OUT)"
printf '%-11s %-8s %-8s %9s %9s %9s  %s\n' path shape backend train infer in-grad status
for path in cpu tensorflow webgpu; do
  if [[ -s "$OUT/$path.jsonl" ]]; then
    node -e '
      const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
      for (const r of lines) console.log([process.argv[2].padEnd(11), r.shape.padEnd(8), (r.backend + "/" + r.threads).padEnd(8),
        String(r.train_img_s).padStart(9), String(r.infer_img_s).padStart(9), String(r.input_grad_img_s).padStart(9), " " + process.argv[3]].join(" "));
    ' "$OUT/$path.jsonl" "$path" "${STATUS[$path]}"
  else
    printf '%-11s %-8s %-8s %9s %9s %9s  %s\n' "$path" - - - - - "${STATUS[$path]}"
  fi
done

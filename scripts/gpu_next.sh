#!/usr/bin/env bash
# The next GPU session of the Fashion-MNIST zoo in one call (benchmarks/results/fmnist_zoo.md,
# "Next"), about 9 minutes on one H100/H200, everything side by side on the one GPU:
#
#   1. bars-fmnist-m for the recipe's 100 epochs;
#   2. bars-fmnist-s for 100 epochs, resuming the CPU run in runs/s100 when it is carried along;
#   3. a 16-epoch search of S under its parameter limit alone (480k, no OPs budget, the paper's
#      widths), then its training for as many epochs as fit (scripts/fmnist_zoo.py --only).
#
# Every training ends after the epoch that passes its --time-limit and keeps its checkpoint, so a
# later session continues it with the same command and --resume (the cosine schedule is that of
# the full 100 epochs, whatever machine runs which epochs).  What comes back: $OUT/gpu_next.tar.gz
# (every run's log.jsonl, results.json and model/ folder - bundle with scripts/bundle_fmnist_zoo.py
# - and the search's genotype and logs) and each run's checkpoint.pt in 15 MiB parts
# ($OUT/NAME.ckpt.NN; `cat NAME.ckpt.* > runs/NAME/checkpoint.pt` to go on).  At most 8 files and
# 64 MiB come back from the device, so the baseline (134 MB of checkpoint) is not in TRAIN by
# default: its 100-epoch run must end in one call (TRAIN="xnor-resnet18-fmnist", about 8 min).
#
#   run(command="OUT=$OUT bash scripts/gpu_next.sh", carry=[".whl", ".gpu/fmnist", "runs/s100"],
#       timeout_s=590)
#
# Smoke test on a CPU (a few minutes; checks the commands, not the numbers; the search needs more
# epochs than its 2 warm-up ones):
#   DEVICE=cpu GRAPH= SUBSET=512 MINUTES=8 EPOCHS=2 SEARCH_EPOCHS=3 SEARCH_MINUTES=5 \
#       S_RUN=/nonexistent DATA=/usr/share/datasets/fashion-mnist OUT=/tmp/gpu-smoke \
#       bash scripts/gpu_next.sh
set -u
OUT=${OUT:?set OUT to the folder that comes back}
MINUTES=${MINUTES:-8.5}           # wall-clock budget of the whole call
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu/fmnist}         # the four idx .gz files
GRAPH=${GRAPH---cuda-graph}       # empty on a CPU
SUBSET=${SUBSET:-}                # smoke runs only
EPOCHS=${EPOCHS:-100}
S_RUN=${S_RUN:-runs/s100}         # session 5's CPU run of bars-fmnist-s, if carried
SEARCH_EPOCHS=${SEARCH_EPOCHS:-16}  # never 8 (fmnist_zoo.md, session 4)
SEARCH_MINUTES=${SEARCH_MINUTES:-5}
TRAIN=${TRAIN-bars-fmnist-m bars-fmnist-s}  # empty: no training beside the search

start=$(date +%s)
if ! python3 -c "import lark, pydantic" 2> /dev/null; then  # the device has torch, not these
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
python3 -c "import torch, bars_zoo; print(torch.__version__, bars_zoo.__version__, \
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')" || exit 1

work=$OUT/work
mkdir -p "$work/runs" "$work/logs"
if [ -d "$S_RUN" ]; then
    cp -r "$S_RUN" "$work/runs/bars-fmnist-s"
    echo "resuming $S_RUN"
fi
left=$(( start + ${MINUTES%.*} * 60 - $(date +%s) ))
limit="$(( left - 45 ))s"          # leaves time for the last epoch's test evaluation and packing
common=(--dataset fashion-mnist --data-dir "$DATA" --device "$DEVICE" --epochs "$EPOCHS"
        --time-limit "$limit" --resume --no-progress ${GRAPH:+"$GRAPH"} ${SUBSET:+--subset "$SUBSET"})

for name in $TRAIN; do
    python3 -m bars_zoo train "$name" "${common[@]}" --out "$work/runs/$name" \
        > "$work/logs/$name.log" 2>&1 &
done
python3 scripts/fmnist_zoo.py --data-dir "$DATA" --out "$work/search-s" --device "$DEVICE" \
    --minutes "$(( left / 60 ))" --search-minutes "$SEARCH_MINUTES" \
    --search-epochs "$SEARCH_EPOCHS" --search-warmup 2 \
    --theta-under -0.2 --only bars-fmnist-s --budget bars-fmnist-s=none --s-budget-params 480k \
    --space bars-fmnist-s=48,96,192 --no-baseline ${GRAPH:+"$GRAPH"} \
    ${SUBSET:+--subset "$SUBSET"} > "$work/logs/search-s.log" 2>&1 &
wait

for f in "$work"/logs/*.log; do echo "== $f"; tail -n 3 "$f"; done
cd "$work" && tar czf "$OUT/gpu_next.tar.gz" logs \
    $(ls -d runs/*/log.jsonl runs/*/results.json runs/*/model \
        search-s/geno search-s/logs search-s/summary.json search-s/search/*/log.jsonl \
        search-s/search/*/*.png search-s/runs/*/log.jsonl search-s/runs/*/results.json \
        search-s/runs/*/model 2> /dev/null)
for ckpt in runs/*/checkpoint.pt; do
    [ -f "$ckpt" ] || continue
    name=$(basename "$(dirname "$ckpt")")
    split -b 15M -d "$ckpt" "$OUT/$name.ckpt."
done
cd "$OUT" && rm -rf "$work"
ls -la "$OUT"

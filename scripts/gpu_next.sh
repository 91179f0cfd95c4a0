#!/usr/bin/env bash
# One GPU session of the Fashion-MNIST zoo (benchmarks/results/fmnist_zoo.md, "Next"), everything
# side by side on the one GPU:
#
#   1. TRAIN: zoo models trained for EPOCHS (the recipe's 100), e.g. bars-fmnist-m or the baseline;
#   2. SEARCHES: for each NAME=PARAMS, a 16-epoch search under that parameter limit alone (no OPs
#      budget) in the paper's space (WIDTHS, stem = the first), then the training of what it
#      derives for SEARCHED_EPOCHS epochs, in the run folder NAME-params.
#
# Session 6 ran TRAIN=bars-fmnist-m SEARCHES=bars-fmnist-s=480k SEARCHED_EPOCHS=50.  Its "Next":
#   TRAIN=xnor-resnet18-fmnist SEARCHES=       the baseline's 100 epochs alone (about 5 min)
#   TRAIN= SEARCHES="bars-fmnist-m=1.5M bars-fmnist-l=4M"
# The defaults are the first of those (the baseline alone: its checkpoint is too large to come
# back unfinished, so it must end inside one call).
# S_RUN=DIR (carried) adds a run of bars-fmnist-s to go on with (e.g. runs/s100).
#
# Every job works in WORK, outside $OUT, and is resumable: a training ends after the epoch that
# passes its --time-limit and keeps its checkpoint, a search ends after the epoch that passes its
# --search-time (over all its calls) and derives, and one that has written its genotype is not run
# again.  So the same command, called again on the still-warm machine (within its 30 s), goes on
# where the first call stopped: give it the device time that is left in BUDGET_S.
#
# What comes back: $OUT/gpu_next.tar.gz (logs, every run's log.jsonl, results.json and model/
# folder - bundle with scripts/bundle_fmnist_zoo.py - and each search's genotype, log and plots)
# and the checkpoint.pt of each run that has not finished, in 15 MiB parts ($OUT/NAME.ckpt.NN;
# `cat NAME.ckpt.* > runs/NAME/checkpoint.pt`, then the same train command with --resume goes on
# on any machine).  At most 8 files and 64 MiB come back from the device: that is why the baseline
# (134 MB of checkpoint) must finish inside one call.
#
#   run(command="OUT=$OUT bash scripts/gpu_next.sh", carry=[".whl", ".gpu/fmnist"], timeout_s=600)
#   run(command="OUT=$OUT BUDGET_S=150 bash scripts/gpu_next.sh", timeout_s=200)   # goes on
#
# Smoke test on a CPU (a few minutes; checks the commands, not the numbers; the search needs more
# epochs than its 2 warm-up ones):
#   DEVICE=cpu GRAPH= SUBSET=512 BUDGET_S=400 EPOCHS=1 SEARCHED_EPOCHS=1 SEARCH_EPOCHS=3 \
#       WIDTHS=8,16,32 TRAIN=bars-fmnist-s SEARCHES="a=100k b=200k" \
#       DATA=/usr/share/datasets/fashion-mnist OUT=/tmp/gpu-smoke WORK=/tmp/gpu-smoke-work \
#       bash scripts/gpu_next.sh
set -u
OUT=${OUT:?set OUT to the folder that comes back}
BUDGET_S=${BUDGET_S:-555}         # wall-clock budget of this call, packing included
DEVICE=${DEVICE:-cuda}
DATA=${DATA:-.gpu/fmnist}         # the four idx .gz files
GRAPH=${GRAPH---cuda-graph}       # empty on a CPU
SUBSET=${SUBSET:-}                # smoke runs only
EPOCHS=${EPOCHS:-100}             # the TRAIN runs
SEARCHED_EPOCHS=${SEARCHED_EPOCHS:-100}  # the searched networks
WORK=${WORK:-/tmp/gpu_next}
S_RUN=${S_RUN:-}                  # a carried run of bars-fmnist-s to go on with, e.g. runs/s100
SEARCH_EPOCHS=${SEARCH_EPOCHS:-16}  # never 8 (fmnist_zoo.md, session 4)
TRAIN=${TRAIN-xnor-resnet18-fmnist}  # zoo names; empty: none
SEARCHES=${SEARCHES-}             # NAME=PARAMS ...; empty: no search
WIDTHS=${WIDTHS:-48,96,192}       # the search space's stage widths (the paper's)

start=$(date +%s)
deadline=$(( start + BUDGET_S ))
left() { echo $(( deadline - $(date +%s) )); }

if ! python3 -c "import lark, pydantic" 2> /dev/null; then  # the device has torch, not these
    export PYTHONPATH=/tmp/site:$PWD
    python3 -c "import lark, pydantic" 2> /dev/null ||
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
            .whl/*.whl || exit 1
fi
export PYTHONUNBUFFERED=1
python3 -c "import torch, bars_zoo; print(torch.__version__, bars_zoo.__version__, \
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA')" || exit 1

mkdir -p "$OUT" "$WORK/runs" "$WORK/logs" "$WORK/geno"  # $OUT exists on the device, not in a CPU smoke run
if [ -n "$S_RUN" ] && [ -d "$S_RUN" ] && [ ! -d "$WORK/runs/bars-fmnist-s" ]; then
    cp -r "$S_RUN" "$WORK/runs/bars-fmnist-s"
    TRAIN="$TRAIN bars-fmnist-s"
fi
common=(--dataset fashion-mnist --data-dir "$DATA" --device "$DEVICE" --resume --no-progress
        ${GRAPH:+"$GRAPH"} ${SUBSET:+--subset "$SUBSET"})

# train NAME GENOTYPE EPOCHS: until the deadline, less a last epoch, the test evaluation, packing
train() {
    local limit=$(( $(left) - 75 ))
    if [ "$limit" -lt 20 ]; then echo "[$(date +%T)] no time left to train $1"; return 0; fi
    echo "[$(date +%T)] train $1 for ${limit}s"
    python3 -m bars_zoo train "$2" "${common[@]}" --epochs "$3" --time-limit "${limit}s" \
        --out "$WORK/runs/$1" >> "$WORK/logs/$1.log" 2>&1
    local rc=$?
    echo "[$(date +%T)] train $1 exited $rc"
}

for name in $TRAIN; do
    train "$name" "$name" "$EPOCHS" &
done
# search NAME PARAMS, then train what it derives (one background job per search)
search_and_train() {
    local geno=$WORK/geno/$1-params.geno
    if [ ! -f "$geno" ] && [ "$(left)" -gt 200 ]; then
        echo "[$(date +%T)] search $1 under $2 params for $(( $(left) - 150 ))s at most"
        python3 -m bars_zoo search --preset fmnist --dataset fashion-mnist --data-dir "$DATA" \
            --device "$DEVICE" --budget-ops none --budget-params "$2" --theta-under -0.2 \
            --base-channels "$WIDTHS" --stem-channels "${WIDTHS%%,*}" --epochs "$SEARCH_EPOCHS" \
            --warmup-epochs 2 --seed 0 --name "$1" --out "$geno" --run-dir "$WORK/search-$1" \
            --resume --quiet --search-time "$(( $(left) - 150 ))s" \
            ${GRAPH:+"$GRAPH"} ${SUBSET:+--subset "$SUBSET"} >> "$WORK/logs/search-$1.log" 2>&1
        local rc=$?
        echo "[$(date +%T)] search $1 exited $rc"
    fi
    if [ -f "$geno" ]; then train "$1-params" "$geno" "$SEARCHED_EPOCHS"; fi
}

for item in $SEARCHES; do
    search_and_train "${item%%=*}" "${item#*=}" &
done
wait

cd "$WORK" || exit 1
for f in logs/*.log; do echo "== $f"; tail -n 4 "$f"; done
tar czf "$OUT/gpu_next.tar.gz" logs geno \
    $(ls -d runs/*/log.jsonl runs/*/results.json runs/*/model search-*/log.jsonl search-*/*.png \
        2> /dev/null)
for run in runs/*; do
    [ -f "$run/checkpoint.pt" ] && [ ! -f "$run/results.json" ] || continue
    split -b 15M -d "$run/checkpoint.pt" "$OUT/$(basename "$run").ckpt."
done
ls -la "$OUT"
echo "[$(date +%T)] done, $(( $(date +%s) - start ))s"

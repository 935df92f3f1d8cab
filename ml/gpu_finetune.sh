#!/usr/bin/env bash
# DeepFilterNet3 fine-tuned on a lent GPU machine and exported, in one command run in the repository root there:
#   run tool: command "bash ml/gpu_finetune.sh", carry ["data-pack"], timeout_s 600, right after a short call that
#   carried .whl (both at once are over the 64 MiB that travels; README, "Fine-tuning DeepFilterNet3 on a lent GPU")
# `make pack-data` and `make gpu-wheels` here first (README, "Fine-tuning on a lent GPU"). Installs the carried
# wheels into /tmp/site, the DNSMOS models from the pack, trains ml/configs/deepfilternet3-gpu.yaml for MINUTES
# (a run folder left by an earlier call on a still-warm machine is resumed; FRESH=1 starts over) and exports the
# best checkpoint into $OUT (averaged with the released weights, AVERAGE): VERSION.tar.gz, .json and .md, with
# train.log and tensorboard.tar.gz.
# Training is stopped (SIGTERM: last.ckpt saved) in time to export before DEADLINE_S seconds from the start.
# CONFIG picks another config sized for the device (its run folder is named after it); VERSION names the export.
# Elsewhere (tests/ml/test_pack.py runs it on a CPU): PYTHON, SKIP_WHEELS=1, and TRAIN_ARGS (e.g. --set KEY=VALUE).
set -euo pipefail

MINUTES=${MINUTES:-8}
VERSION=${VERSION:-deepfilternet3-gpu-v1}
AVERAGE=${AVERAGE-0.5}  # exported weights: AVERAGE x trained + the rest x released (WiSE-FT); set empty: as trained
DEADLINE_S=${DEADLINE_S:-570}
EXPORT_S=${EXPORT_S:-60}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-runs/gpu-out}
CONFIG=${CONFIG:-ml/configs/deepfilternet3-gpu.yaml}  # deepfilternet3-whisper-mix-gpu.yaml: the transcriber's run
RUN=runs/$(basename "$CONFIG" .yaml)

say() { printf '[gpu_finetune %3ds] %s\n' "$SECONDS" "$*"; }

main() {
    if [ ! -d data-pack/data ]; then
        say "no data-pack/: run make pack-data here and carry data-pack"
        return 2
    fi
    if [ "${SKIP_WHEELS:-0}" != 1 ]; then
        if ! compgen -G '.whl/*.whl' >/dev/null; then
            say "no .whl/: run make gpu-wheels here and carry .whl"
            return 2
        fi
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl
        export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
    fi
    export VOICEBOT_SHARED_DIR=$PWD/data-pack PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
    "$PYTHON" -m ml setup-metrics
    if [ "${FRESH:-0}" = 1 ]; then rm -rf "$RUN"; fi

    local budget=$((DEADLINE_S - SECONDS - EXPORT_S)) status=0
    if [ "$budget" -lt 30 ]; then
        say "only ${budget} s left before the deadline: not training"
        return 1
    fi
    say "training for $MINUTES min at most (stopped after ${budget} s in any case)"
    # shellcheck disable=SC2086  # TRAIN_ARGS: words on purpose
    timeout -s TERM -k 30 "$budget" "$PYTHON" -m ml train --config "$CONFIG" --max-minutes "$MINUTES" ${TRAIN_ARGS:-} \
        || status=$?
    local checkpoint=$RUN/checkpoints/best.ckpt
    [ -f "$checkpoint" ] || checkpoint=$RUN/checkpoints/last.ckpt
    if [ ! -f "$checkpoint" ]; then
        say "training ended with status $status and no checkpoint"
        return "$((status ? status : 1))"
    fi
    say "training ended with status $status (124: stopped at the deadline); exporting $checkpoint"
    "$PYTHON" -m ml export --checkpoint "$checkpoint" --version "$VERSION" --out-dir "$OUT" \
        ${AVERAGE:+--average-with-released "$AVERAGE"}
    tar -czf "$OUT/tensorboard.tar.gz" -C "$RUN" tensorboard
    grep -h "validation:" "$OUT/train.log" || true
    say "done: $(cd "$OUT" && ls | tr '\n' ' ')"
}

mkdir -p "$OUT"
main 2>&1 | tee "$OUT/train.log"

#!/usr/bin/env bash
# The whole path on the real ventmode recordings (issue 15), from files, with the command alone:
# segment with the clinicians' mode labels -> train -> generate from the model file alone (mode-balanced,
# and natural proportions without labels; the default generation settings) -> re-segment -> evaluate-cohort
# (with the model: the reconstruction ceiling beside each score). Trains on 5 patients, keeps
# 2 for comparison. Usage: bash benchmarks/ventmode_path.sh [OUT] [EPOCHS]
set -euo pipefail
OUT=${1:-benchmarks/out/ventmode_path}
EPOCHS=${2:-10}
DATA=../shared/data/ventmode
V=".venv/bin/ventgen --quiet"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$OUT"
# 5 training patients (the 32-hex prefix is the patient), 2 held out
TRAIN=$(ls $DATA/*.csv | grep -v '\.modes\.csv$' | grep -v -e '^.*/a4cb6936' -e '^.*/df48eb76')
$V segment $TRAIN -o "$OUT/cycles.h5" --breath-labels .modes.csv --overwrite
$V segment $TRAIN -o "$OUT/cycles_unlabelled.h5" --overwrite
$V info "$OUT/cycles.h5"
$V train "$OUT/cycles.h5" -o "$OUT/model.pt" --epochs "$EPOCHS" --seed 0 --overwrite
$V train "$OUT/cycles_unlabelled.h5" -o "$OUT/model_unlabelled.pt" --epochs "$EPOCHS" --seed 0 --overwrite
printf '{"patients": 4, "minutes": 10, "composition": {"pav": 0.3333333, "ps": 0.3333333, "cpap_sbt": 0.3333334}}' > "$OUT/modes.json"
printf '{"patients": 4, "minutes": 10}' > "$OUT/natural.json"
$V generate "$OUT/model.pt" --spec "$OUT/modes.json" -o "$OUT/cohort_modes" --seed 1 --overwrite
$V generate "$OUT/model_unlabelled.pt" --spec "$OUT/natural.json" -o "$OUT/cohort_natural" --seed 1 --overwrite
$V segment "$OUT"/cohort_modes/*.h5 -o "$OUT/cohort_modes_cycles.h5" --overwrite
$V evaluate-cohort "$OUT/cohort_modes" --real "$OUT/cycles.h5" -o "$OUT/fidelity_modes" --model "$OUT/model.pt" --overwrite
$V evaluate-cohort "$OUT/cohort_natural" --real "$OUT/cycles_unlabelled.h5" -o "$OUT/fidelity_natural" \
    --model "$OUT/model_unlabelled.pt" --overwrite

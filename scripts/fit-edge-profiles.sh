#!/usr/bin/env bash
# Makes the bundled edge-device and GPU-server profiles of the hwnas-cifar geometry from the published whole-network
# timings in profiles/timings (see its README), with `nasc fit-profile`, and from those the nbmacro ones, with
# `nasc predict-profile`. Each profile records its source, its rule and its validated error in metadata.fit.
# Usage: scripts/fit-edge-profiles.sh [path/to/nasc]   (default build/nasc)
set -euo pipefail
NASC=${1:-build/nasc}
cd "$(dirname "$0")/.."
CSV=profiles/timings/fbnet-cifar100-latency.csv
REF=profiles/cpu1-hwnas-cifar.json
fit() {  # column, output name, device class, description
  "$NASC" fit-profile --timings "$CSV" --column "$1" --space hwnas-cifar --reference "$REF" --head-classes 10 \
    --device-class "$3" --description "$4" --holdout 0.2 --seed 1 \
    --notes "Fitted from published whole-network timings ($CSV, column $1); see profiles/timings/README.md" \
    --out "profiles/$2-hwnas-cifar.json"
}
fit raspi4_ms raspi4 device "Raspberry Pi 4 (HW-NAS-Bench)"
fit pixel3_ms pixel3 device "Pixel 3 phone (HW-NAS-Bench)"
fit eyeriss_ms eyeriss device "Eyeriss ASIC, simulated (HW-NAS-Bench)"
fit fpga_ms fpga device "FPGA, simulated (HW-NAS-Bench)"
fit titan_rtx_1_ms titanrtx server "NVIDIA Titan RTX GPU, batch 1 (HELP)"
fit 2080ti_1_ms 2080ti server "NVIDIA RTX 2080 Ti GPU, batch 1 (HELP)"

# The same devices priced for the NAS-Bench-Macro space (nbmacro), whose block shapes the published tables lack:
# a block latency model fitted on each device's hwnas-cifar ConvBlocks (form chosen by leave-one-placement-out
# error, recorded in metadata.fit), the fixed blocks scaled from profiles/reference/, both spaces measured on one
# CPU on one day (machines of the same name differ by more than the model errs: see profiles/reference/README.md).
PAIR=profiles/reference
predict() {  # device name
  "$NASC" predict-profile --from "profiles/$1-hwnas-cifar.json" --space nbmacro \
    --source-reference "$PAIR/cpu1-hwnas-cifar.json" --target-reference "$PAIR/cpu1-nbmacro.json" \
    --out "profiles/$1-nbmacro.json"
}
for d in raspi4 pixel3 titanrtx 2080ti; do predict "$d"; done

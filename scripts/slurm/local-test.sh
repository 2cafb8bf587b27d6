#!/usr/bin/env bash
# The documented job array on a real single-node Slurm on this machine: starts munged, slurmctld and slurmd
# (Debian's slurm-wlm) with a private configuration under WORK, submits
#   sbatch --array=1-2 scripts/slurm/experiment.sbatch CONFIG WORK/sharded
# from the repository root, merges with --report-only, runs the same grid unsharded, and checks that the two
# results.csv hold the same rows (timings and run folders aside). Needs root (the daemons) and a built build/nasc;
# about two minutes on 2 cores. Leaves the daemons stopped and the system's Slurm configuration untouched.
#
#   sudo apt-get install slurm-wlm     # once
#   scripts/slurm/local-test.sh [WORK]  # default /tmp/nasc-slurm-test
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=${1:-/tmp/nasc-slurm-test}
for tool in munged slurmctld slurmd sbatch squeue; do
  command -v "$tool" >/dev/null || { echo "local-test.sh: $tool not found: install slurm-wlm (apt-get install slurm-wlm)" >&2; exit 1; }
done
[ -x build/nasc ] || { echo "local-test.sh: no build/nasc: run make build first" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "local-test.sh: run as root (it starts munged, slurmctld and slurmd)" >&2; exit 1; }

rm -rf "$WORK"
mkdir -p "$WORK"/{spool,state,log,munge}
NODE=$(hostname -s)
export SLURM_CONF=$WORK/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=nasc-local
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SlurmdSpoolDir=$WORK/spool
StateSaveLocation=$WORK/state
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
NodeName=$NODE CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

cleanup() {
  [ -f "$WORK/slurmd.pid" ] && kill "$(cat "$WORK/slurmd.pid")" 2>/dev/null || true
  [ -f "$WORK/slurmctld.pid" ] && kill "$(cat "$WORK/slurmctld.pid")" 2>/dev/null || true
  [ -f "$WORK/munge/munged.pid" ] && kill "$(cat "$WORK/munge/munged.pid")" 2>/dev/null || true
}
trap cleanup EXIT
[ -f /etc/munge/munge.key ] || { echo "local-test.sh: /etc/munge/munge.key missing (slurm-wlm's munge makes it)" >&2; exit 1; }
munged --force --socket="$WORK/munge/munge.socket" --pid-file="$WORK/munge/munged.pid" \
  --log-file="$WORK/log/munged.log" --seed-file="$WORK/munge/munged.seed"
slurmctld
slurmd -N "$NODE"
for _ in $(seq 60); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o "%P %T %C" | grep -q idle || { echo "local-test.sh: the node never came up; see $WORK/log" >&2; exit 1; }

# A grid of a few seconds per run: the fmnist space on the bundled CPU profiles, two thresholds, two seeds.
CONFIG=$WORK/grid.json
cat > "$CONFIG" <<EOF
{
  "name": "slurm-local",
  "space": "fmnist",
  "data": "fmnist",
  "scenarios": [{"name": "cpu", "device_profile": "profiles/cpu1-fmnist.json",
                 "server_profile": "profiles/cpu2-fmnist.json"}],
  "min_device_blocks": [1],
  "bandwidths_mbps": [10],
  "threshold_fractions": [0.3, 0.6],
  "seeds": [1, 2],
  "strategies": ["nasc", "accuracy-only", "fixed:k3_e6"],
  "search": {"epochs": 1, "batch_size": 64, "train_limit": 512, "eval_limit": 128, "fair_sampling": false},
  "retrain": {"epochs": 1, "batch_size": 64, "train_limit": 512, "test_limit": 256}
}
EOF

# What the documentation says, from the repository root.
JOB=$(sbatch --parsable --array=1-2 --cpus-per-task=1 scripts/slurm/experiment.sbatch "$CONFIG" "$WORK/sharded")
echo "submitted job array $JOB"
for _ in $(seq 900); do [ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] && break; sleep 1; done
[ -z "$(squeue -h -j "$JOB")" ] || { echo "local-test.sh: job $JOB still queued or running after 15 min" >&2; exit 1; }
for log in nasc-experiment-"$JOB"_*.log; do echo "== $log"; tail -3 "$log"; done
mv nasc-experiment-"$JOB"_*.log "$WORK/log/"
# Each run searched by one shard only (the shared baselines under their locks).
twice=$(grep -h ": searching" "$WORK"/log/nasc-experiment-"$JOB"_*.log | sed 's/^.*\] //' | sort | uniq -d)
[ -z "$twice" ] || { echo "local-test.sh: searched by both shards: $twice" >&2; exit 1; }
build/nasc experiment --report-only --out "$WORK/sharded" > "$WORK/log/report.log"
build/nasc experiment --config "$CONFIG" --out "$WORK/unsharded" --threads 1 > "$WORK/log/unsharded.log" 2>&1

python3 - "$WORK/sharded/results.csv" "$WORK/unsharded/results.csv" <<'EOF'
import csv, sys
def rows(path):
    with open(path) as f:
        return sorted(tuple((k, v) for k, v in r.items() if k not in ("search_s", "retrain_s", "run_dir"))
                      for r in csv.DictReader(f))
a, b = rows(sys.argv[1]), rows(sys.argv[2])
if not a or a != b:
    sys.exit(f"local-test.sh: sharded ({len(a)} rows) and unsharded ({len(b)} rows) results differ")
print(f"local-test.sh: the job array's merged results equal the unsharded run's ({len(a)} rows)")
EOF

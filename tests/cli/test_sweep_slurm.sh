#!/usr/bin/env bash
# moe-sweep submit --slurm on a single-node Slurm cluster this test starts on localhost (munge,
# slurmctld, slurmd; its own conf, state and ports under $TMP, stopped on exit): the sweep of
# test_sweep_parallel.sh as a job array; one task is requeued mid-run (scontrol requeue: SIGTERM,
# the run checkpoints) and continues with --resume; a second task is killed after a checkpoint
# (scancel --signal=KILL; Slurm requeues it) and a third's run alone (SIGKILL; its task requeues
# itself), and both continue from their checkpoints; then `moe-sweep collect` gives the same table
# as the same sweep under GNU parallel, but for the wall-clock column. Slurm's single-node setup:
# https://slurm.schedmd.com/quickstart_admin.html
source "$(dirname "$0")/lib.sh"
for t in slurmctld slurmd sbatch squeue scontrol munged mungekey parallel; do
    command -v $t >/dev/null || { echo "SKIP: $t is not installed (apt-get install slurm-wlm munge parallel, or make deps)"; exit 0; }
done
SWEEP="$MOE_BIN/moe-sweep"
D=$TMP/slurm
chmod 711 "$TMP"   # munged wants every directory above its socket searchable by all
mkdir -p "$D"/{state,spool,log,run,munge}; chmod 755 "$D/munge"; mkdir -p -m 700 "$D/munge/etc"
export SLURM_CONF=$D/slurm.conf
stop_cluster() {
    set +e
    [ -s "$D/run/slurmctld.pid" ] && timeout 20 scontrol shutdown >/dev/null 2>&1
    [ -s "$D/run/munged.pid" ] && kill -TERM "$(cat "$D/run/munged.pid")" 2>/dev/null
    for f in "$D"/run/slurmctld.pid "$D"/run/slurmd.localhost.pid "$D"/run/munged.pid; do
        [ -s "$f" ] || continue; p=$(cat "$f")
        for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; [ $i = 50 ] && kill -TERM "$p"; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -KILL "$p"
    done
    rm -rf "$TMP"
}
trap stop_cluster EXIT
t0=$SECONDS
mungekey -c -k "$D/munge/etc/munge.key"
munged --socket="$D/munge/munge.socket.2" --key-file="$D/munge/etc/munge.key" --pid-file="$D/run/munged.pid" \
       --log-file="$D/log/munged.log" --seed-file="$D/munge/etc/munged.seed"
port=$((20000 + RANDOM % 20000))   # not the default 6817/6818: another cluster may run beside this one
cat >"$SLURM_CONF" <<CONF
ClusterName=moesweep
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool/slurmd.%n
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.%n.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
KillWait=5
MinJobAge=300
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld
slurmd -N localhost
for i in $(seq 1 100); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break; sleep 0.2; done
[ "$(sinfo -h -o %T)" = idle ] || { cat "$D"/log/*.log; fail "the cluster did not come up"; }
echo "cluster up: $((SECONDS - t0)) s"

cat >"$TMP/sweep.json" <<JSON
{ "version": 1, "name": "tiny", "spec": "$MOE_SRC/tests/fixtures/tiny_mlp.json", "out_dir": "$TMP/par",
  "set":  { "train.epochs": 20, "log.checkpoint_every": 5, "log.progress": "lines" },
  "grid": { "train.lr": [0.003, 0.001], "model.mlp.hidden": [[16], [32]] },
  "seeds": [1, 2] }
JSON
# the sbatch script: an array of 8, requeue-able, SIGTERM before the time limit
expect_rc 0 "$SWEEP" submit "$TMP/sweep.json" --slurm --time 10:00 --dry-run
expect_out "#SBATCH --array=0-7"
expect_out "#SBATCH --requeue"
expect_out "#SBATCH --signal=B:TERM@"
expect_out "#SBATCH --time=10:00"

# the array; the task of run 0 is requeued once its run has written its first checkpoint
t1=$SECONDS
jid=$("$SWEEP" submit "$TMP/sweep.json" --slurm --out-dir "$TMP/slu" --cpus-per-task 1)
first="$TMP/slu/lr0.003_hidden16_s1.h5"
end=$((SECONDS + 100))
while [ ! -e "$first.ckpt" ] && [ ! -e "$first" ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
[ ! -e "$first" ] || fail "run 0 finished before it could be requeued (a loaded machine?)"
[ -e "$first.ckpt" ] || { cat "$TMP"/slu/*.out; fail "run 0 never wrote a checkpoint"; }
scontrol requeue "${jid}_0"
echo "requeued ${jid}_0 at $((SECONDS - t1)) s"
# a requeued job waits (Reason=BeginTime) before it is eligible again; let it start now
for i in $(seq 1 100); do [ "$(squeue -h -j "${jid}_0" -o %t 2>/dev/null)" = PD ] && break; sleep 0.1; done
scontrol update JobId="${jid}_0" StartTime=now
# task 1 killed outright after a checkpoint (scancel --signal=KILL: SIGKILL to every process of its
# batch step): Slurm requeues the task (--requeue) and the run continues from that checkpoint
second="$TMP/slu/lr0.003_hidden16_s2.h5"
end=$((SECONDS + 100))
while [ ! -e "$second.ckpt" ] && [ ! -e "$second" ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
victim=$(pgrep -f -- "-o $second" | head -1 || true)
[ -n "$victim" ] && [ -e "$second.ckpt" ] || { cat "$TMP"/slu/*.out; fail "run 1 never ran to a checkpoint (a loaded machine?)"; }
scancel --signal=KILL "${jid}_1"
for i in $(seq 1 100); do kill -0 "$victim" 2>/dev/null || break; sleep 0.05; done
kill -0 "$victim" 2>/dev/null && fail "scancel --signal=KILL did not kill the run of ${jid}_1"
echo "killed ${jid}_1 (scancel --signal=KILL) at $((SECONDS - t1)) s"
for i in $(seq 1 100); do [ "$(squeue -h -j "${jid}_1" -o %t 2>/dev/null)" = PD ] && break; sleep 0.1; done
scontrol update JobId="${jid}_1" StartTime=now
# the run of task 2 alone killed (SIGKILL, the OOM killer's way; its batch shell lives): the task
# requeues itself, saying why, and the run continues from its checkpoint
third="$TMP/slu/lr0.003_hidden32_s1.h5"
end=$((SECONDS + 100))
while [ ! -e "$third.ckpt" ] && [ ! -e "$third" ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
victim=$(pgrep -f -- "-o $third" | head -1 || true)
[ -n "$victim" ] && [ -e "$third.ckpt" ] || { cat "$TMP"/slu/*.out; fail "run 2 never ran to a checkpoint (a loaded machine?)"; }
kill -KILL "$victim"
echo "killed the run of ${jid}_2 (pid $victim) at $((SECONDS - t1)) s"
for i in $(seq 1 100); do [ "$(squeue -h -j "${jid}_2" -o %t 2>/dev/null)" = PD ] && break; sleep 0.1; done
scontrol update JobId="${jid}_2" StartTime=now
# while the array runs: the same sweep under GNU parallel (the reference table)
"$SWEEP" run "$TMP/sweep.json" --jobs 1 --threads 1 >"$TMP/par.out" 2>&1 || { cat "$TMP/par.out"; fail "the parallel sweep"; }
for i in $(seq 1 450); do [ -z "$(squeue -h -j "$jid" 2>/dev/null)" ] && break; sleep 0.2; done
[ -z "$(squeue -h -j "$jid")" ] || { squeue; fail "the array did not finish in time"; }
echo "array done: $((SECONDS - t1)) s"
scontrol show job "${jid}_0" >"$TMP/job0.txt"
grep -q "Restarts=1" "$TMP/job0.txt" || { cat "$TMP/job0.txt"; fail "task 0 was requeued once"; }
grep -q "JobState=COMPLETED" "$TMP/job0.txt" || { cat "$TMP/job0.txt" "$TMP"/slu/*.out; fail "task 0 completed"; }
grep -q -- "'--resume'" "${first%.h5}.log" || { cat "${first%.h5}.log"; fail "the requeued run continued with --resume"; }
scontrol show job "${jid}_1" >"$TMP/job1.txt"
grep -q "Restarts=1" "$TMP/job1.txt" && grep -q "JobState=COMPLETED" "$TMP/job1.txt" ||
    { cat "$TMP/job1.txt" "$TMP"/slu/*.out; fail "task 1, whose run was killed, was requeued once and completed"; }
scontrol show job "${jid}_2" >"$TMP/job2.txt"
grep -q "Restarts=1" "$TMP/job2.txt" && grep -q "JobState=COMPLETED" "$TMP/job2.txt" ||
    { cat "$TMP/job2.txt" "$TMP"/slu/*.out; fail "task 2, whose run was killed, was requeued once and completed"; }
grep -q "the run died of signal 9; requeued" "$TMP"/slu/slurm-*_2.out || { cat "$TMP"/slu/*.out; fail "task 2 said why it requeued"; }
grep -q -- "'--resume'" "${third%.h5}.log" || { cat "${third%.h5}.log"; fail "the killed run 2 continued with --resume"; }
grep -q -- "'--resume'" "${second%.h5}.log" || { cat "${second%.h5}.log"; fail "the killed run continued with --resume"; }
[ -e "$first" ] && [ ! -e "$first.ckpt" ] || fail "the requeued run finished"

# the same table from both engines (the wall-clock column aside)
expect_rc 0 "$SWEEP" collect "$TMP/sweep.json" --csv "$TMP/par.csv"
expect_rc 0 "$SWEEP" collect "$TMP/sweep.json" --out-dir "$TMP/slu" --csv "$TMP/slu.csv"
"$PYTHON" - "$TMP/par.csv" "$TMP/slu.csv" <<'PY'
import csv, sys
def table(p):
    rows = list(csv.reader(open(p)))
    keep = [i for i, c in enumerate(rows[0]) if c != "seconds"]
    return [[r[i] for i in keep] for r in rows]
a, b = table(sys.argv[1]), table(sys.argv[2])
assert len(a) == 9, a
assert a == b, "\n".join(f"{x}\n{y}" for x, y in zip(a, b) if x != y)
print(f"same table from GNU parallel and Slurm: {len(a) - 1} runs, {len(a[0])} columns")
PY
echo "1 passed ($((SECONDS - t0)) s)"

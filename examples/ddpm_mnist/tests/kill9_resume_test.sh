#!/usr/bin/env bash
# kill -9 at several moments of a training run, then --resume until it ends: the final
# checkpoint.safetensors and ema.safetensors are byte-identical to those of the same run left
# alone, and what every kill leaves behind resumes (the checkpoint there loads).
#   kill9_resume_test.sh DDPM_MNIST_BINARY WORK_DIR [EMULATOR...]
# EMULATOR: the cross-compiling emulator that runs the binary (qemu-aarch64-static -L ...), if
# any; kill -9 ends it with the program. The moments, watched in log.csv and the output folder:
#   1. early: after step 2, before the first checkpoint (step 10): the run starts over
#   2. mid-way: after step 33, between the checkpoints of steps 30 and 40
#   3. as a checkpoint write begins: as soon as a temporary file of an atomic write shows up
#      (or, should the watch miss the writes of step 40, just after them)
#   4. inside a checkpoint write, part of its bytes on disk (strace slows every write)
#   5. inside a checkpoint write, after its bytes and before the rename (strace kills the run on
#      the fsync of the temporary file)
#   Moments 4 and 5 need strace with fault injection (strace 4.16 or later, and ptrace allowed).
# Temporary files (*.tmp.<pid>.<n>) that kills leave behind are listed in the output.
set -u
exe=$1 work=$2
shift 2
steps=60 every=10
run_args=(--threads 1 train --preset test --steps "$steps" --batch 16 --base 8 --mults 1,2 --groups 2 --seed 7
          --sample-every 0 --checkpoint-every "$every" --log-every 1)
ref=$work/reference out=$work/killed
rm -rf "$work"
mkdir -p "$work"

victim=
fail() {
  echo "FAIL: $*"
  [ -n "$victim" ] && kill -KILL "$victim" 2> /dev/null
  [ -f "$out.log" ] && tail -n 5 "$out.log"
  exit 1
}

"$@" "$exe" "${run_args[@]}" --out "$ref" > "$ref.log" 2>&1 || { tail -n 5 "$ref.log"; fail "the reference run failed"; }

# The last step log.csv records (0 before the first).
last_step() {
  local line
  line=$(tail -n 1 "$out/log.csv" 2> /dev/null) || line=
  line=${line%%,*}
  [[ $line =~ ^[0-9]+$ ]] && echo "$line" || echo 0
}
stale_files() { (cd "$out" 2> /dev/null && ls -- *.tmp.* 2> /dev/null | tr '\n' ' '); }

# Starts the run in the background, from the checkpoint when there is one: $pid is the process
# to wait for, $victim the program to kill. Under strace ($prefix) the program is strace's child,
# which writes its pid to a file before it becomes the program (exec).
resume_args=()
start() {
  resume_args=()
  [ -e "$out/checkpoint.safetensors" ] && resume_args=(--resume "$out/checkpoint.safetensors")
  echo "--- start${resume_args[*]:+ (${resume_args[*]})}" >> "$out.log"
  log_lines=$(wc -l < "$out.log")
  if [ ${#prefix[@]} -eq 0 ]; then
    "${emulator[@]}" "$exe" "${run_args[@]}" --out "$out" "${resume_args[@]}" >> "$out.log" 2>&1 &
    pid=$! victim=$!
  else
    rm -f "$work/pid"
    "${prefix[@]}" bash -c 'echo $$ > "$0" && exec "$@"' "$work/pid" \
      "${emulator[@]}" "$exe" "${run_args[@]}" --out "$out" "${resume_args[@]}" >> "$out.log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2> /dev/null && ! [ -s "$work/pid" ]; do sleep 0.01; done
    victim=$(cat "$work/pid" 2> /dev/null) || fail "the program under strace did not start"
  fi
}
# A start that resumed says so, at the step of a checkpoint.
check_resumed() {
  [ ${#resume_args[@]} -eq 0 ] && return
  local at
  at=$(tail -n +$((log_lines + 1)) "$out.log" | grep "^resumed from " | sed 's/.* at step //')
  [[ $at =~ ^[0-9]+$ ]] || fail "the run did not resume from the checkpoint a kill left"
  [ $((at % every)) -eq 0 ] || fail "resumed at step $at, not at a checkpoint step (a multiple of $every)"
  echo "  start: resumed at step $at"
}
# kill -9 the program (unless something else did) and check that it died of SIGKILL.
killed() {
  kill -KILL "$victim" 2> /dev/null
  wait "$pid" 2> /dev/null  # (without bash's "Killed" line)
  local status=$?
  check_resumed
  [ "$status" -eq 137 ] || fail "$1: exit status $status, expected 137 (SIGKILL)"
  local ckpt=none
  [ -e "$out/checkpoint.safetensors" ] && ckpt=present
  echo "  kill $1: at logged step $(last_step), checkpoint $ckpt, temporary files: $(stale_files)"
}

emulator=("$@") prefix=()
: > "$out.log"
mkdir -p "$out"

# 1. early
start
while kill -0 "$pid" 2> /dev/null && [ "$(last_step)" -lt 2 ]; do sleep 0.01; done
killed early
# 2. mid-way
start
while kill -0 "$pid" 2> /dev/null && [ "$(last_step)" -lt $((steps / 2 + 3)) ]; do sleep 0.01; done
[ "$(last_step)" -lt "$steps" ] || fail "the run ended before the mid-way kill"
killed mid-way
# 3. as a checkpoint write begins: the loop spins (a write takes about a millisecond natively);
#    should it miss the writes of the next checkpoint (step 40), the kill comes just after them
next=$(( ($(last_step) / every + 1) * every ))
before=" $(stale_files) " seen= spins=0
start
while kill -0 "$pid" 2> /dev/null; do
  for f in "$out"/*.safetensors.tmp.*; do
    [ -e "$f" ] && [[ $before != *" ${f##*/} "* ]] && seen="as ${f##*/} was written" && break 2
  done
  if [ $((++spins % 100)) -eq 0 ] && [ "$(last_step)" -gt "$next" ]; then
    seen="just after the checkpoint of step $next" && break
  fi
done
[ -n "$seen" ] || fail "the run ended before the kill as a checkpoint was written"
killed "$seen"
# With strace (where it can inject faults), two moments inside a checkpoint write:
# 4. its bytes partly on disk: every write() waits 20 ms, and the kill comes as soon as a
#    checkpoint file (the temporary one, or the checkpoint itself were it written in place) is
#    longer than 0 bytes and shorter than a whole checkpoint
# 5. all its bytes written, before the rename: SIGKILL on entering the fsync of the temporary file
#    (the first fsync after the resume)
full=$(wc -c < "$ref/checkpoint.safetensors")
partly_written() {
  local f size
  for f in "$out"/checkpoint.safetensors*; do
    [ -e "$f" ] && [[ $before != *" ${f##*/} "* ]] || continue
    size=$(stat -c %s "$f")
    [ "$size" -gt 0 ] && [ "$size" -lt "$full" ] && partial="${f##*/} ($size of $full bytes)" && return 0
  done
  return 1
}
strace=(strace -f -qq -o /dev/null -e trace=write,fsync)
if "${strace[@]}" -e inject=write:delay_enter=1000 -e inject=fsync:signal=KILL:when=1 true 2> /dev/null; then
  # 4.
  prefix=("${strace[@]}" -e inject=write:delay_enter=20000)
  before=" $(stale_files) " partial=
  start
  while kill -0 "$pid" 2> /dev/null && ! partly_written; do sleep 0.005; done
  prefix=()
  [ -n "$partial" ] || fail "no partly written checkpoint seen before the run ended"
  killed "with $partial written"
  # 5.
  prefix=("${strace[@]}" -e inject=fsync:signal=KILL:when=1)
  start
  victim=  # strace kills it
  prefix=()
  killed "at the fsync of a checkpoint's temporary file"
else
  echo "  (strace cannot inject faults here: the kills inside a checkpoint write are skipped)"
fi

# To the end, then the same bytes as the run that was left alone.
start
wait "$pid" || fail "the last resume failed"
check_resumed
for name in checkpoint.safetensors ema.safetensors; do
  cmp "$ref/$name" "$out/$name" || fail "$name differs from the uninterrupted run's"
done
echo "checkpoint.safetensors ($(wc -c < "$out/checkpoint.safetensors") bytes) and ema.safetensors match the" \
     "uninterrupted run's after the kills; temporary files left behind: $(stale_files)"

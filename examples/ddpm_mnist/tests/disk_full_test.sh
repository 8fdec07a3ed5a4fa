#!/usr/bin/env bash
# A checkpoint write that runs out of room fails with a clear error (naming the file, exit status
# 1) and leaves the previous checkpoint byte-identical and loadable, and no temporary file.
#   disk_full_test.sh DDPM_MNIST_BINARY WORK_DIR [EMULATOR...]
# EMULATOR: the cross-compiling emulator that runs the binary (qemu-aarch64-static -L ...), if any.
# A run stops after step 10 with a checkpoint (575 kB for this model), then resumes and
# fails to write the checkpoint of step 20:
#   1. file size limit: ulimit -f 256 (RLIMIT_FSIZE, 256 KiB) with SIGXFSZ ignored, so that the
#      write() past the limit fails with EFBIG ("File too large") instead of killing the process
#   2. full file system: the run's folder is a 1 MiB tmpfs holding the checkpoint already, so the
#      new one runs out of space (ENOSPC, "No space left on device"); needs an unprivileged mount
#      namespace (unshare -r -m) and is skipped where there is none
# Then the run resumes from what the failures left.
set -u
exe=$1 work=$2
shift 2
run_args=(--threads 1 train --preset test --steps 20 --batch 2 --base 8 --mults 1,2 --groups 2 --seed 3
          --sample-every 0 --checkpoint-every 10 --log-every 1)
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAIL: $*"; exit 1; }

# The run's first 10 steps, and a copy of their checkpoint.
"$@" "$exe" "${run_args[@]}" --stop-after 10 --out "$work/run" > "$work/first.log" 2>&1 ||
  { tail -n 5 "$work/first.log"; fail "the first 10 steps failed"; }
cp "$work/run/checkpoint.safetensors" "$work/step10.safetensors"
echo "checkpoint of step 10: $(wc -c < "$work/step10.safetensors") bytes"

# check_failure WHAT STATUS LOG DIR ERROR_TEXT: the resumed run in DIR failed as it should.
check_failure() {
  local what=$1 status=$2 log=$3 dir=$4 error=$5
  echo "$what: exit status $status: $(grep '^error: ' "$log")"
  [ "$status" -eq 1 ] || { tail -n 5 "$log"; fail "$what: exit status $status, expected 1"; }
  grep -q "^resumed from .* at step 10$" "$log" || fail "$what: the run did not resume from step 10"
  grep -q "^error: .*cannot write '$dir/checkpoint.safetensors'.*$error" "$log" ||
    fail "$what: no error naming checkpoint.safetensors and '$error'"
  cmp "$work/step10.safetensors" "$dir/checkpoint.safetensors" || fail "$what: the checkpoint of step 10 changed"
  local left
  left=$(cd "$dir" && ls -- *.tmp.* 2> /dev/null)
  [ -z "$left" ] || fail "$what: temporary files left behind: $left"
}

# 1. ulimit -f (in a subshell, which execs the program with the limit and SIGXFSZ ignored)
(
  trap '' XFSZ
  ulimit -f 256
  exec "$@" "$exe" "${run_args[@]}" --resume "$work/run/checkpoint.safetensors" --out "$work/run"
) > "$work/limit.log" 2>&1
check_failure "ulimit -f 256" $? "$work/limit.log" "$work/run" "File too large"

# 2. a full tmpfs: mounted, filled and tested inside a private mount namespace (it is gone with
#    it), so the folder is copied out for the checks
if unshare -r -m true 2> /dev/null; then
  mkdir -p "$work/tmpfs"
  unshare -r -m bash -c '
    work=$1 && shift && mount -t tmpfs -o size=1m tmpfs "$work/tmpfs" || exit 99
    cp "$work/step10.safetensors" "$work/tmpfs/checkpoint.safetensors"
    "$@" --resume "$work/tmpfs/checkpoint.safetensors" --out "$work/tmpfs" > "$work/full.log" 2>&1
    status=$?
    df -k "$work/tmpfs" | tail -n 1 > "$work/full.df"
    cp -a "$work/tmpfs" "$work/full"
    exit $status' bash "$work" "$@" "$exe" "${run_args[@]}"
  status=$?
  if [ "$status" -eq 99 ]; then
    echo "(no tmpfs mount in a user namespace here: the full file system case is skipped)"
  else
    # The messages name the file where it was, in the tmpfs.
    sed -i "s|$work/tmpfs|$work/full|g" "$work/full.log"
    check_failure "full 1 MiB tmpfs" "$status" "$work/full.log" "$work/full" "No space left on device"
    echo "  tmpfs after the failure (df -k): $(cat "$work/full.df")"
  fi
else
  echo "(unshare -r -m does not work here: the full file system case is skipped)"
fi

# What the failures left resumes (for a step: the end would draw a sample grid, slow under QEMU).
"$@" "$exe" "${run_args[@]}" --resume "$work/run/checkpoint.safetensors" --stop-after 11 --out "$work/run" \
  > "$work/last.log" 2>&1 ||
  { tail -n 5 "$work/last.log"; fail "resuming after the failed write failed"; }
grep -q "^resumed from .* at step 10$" "$work/last.log" || fail "the last run did not resume from step 10"
echo "resumed from the checkpoint of step 10 and trained step 11"

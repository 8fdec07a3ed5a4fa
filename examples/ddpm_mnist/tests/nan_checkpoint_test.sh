#!/usr/bin/env bash
# A learning rate that blows training up stops it with exit status 3 and a message saying why,
# and every checkpoint or EMA file it leaves holds finite numbers only.
#   nan_checkpoint_test.sh DDPM_MNIST_BINARY WORK_DIR [EMULATOR...]
# EMULATOR: the cross-compiling emulator that runs the binary (qemu-aarch64-static -L ...), if any.
# (test_training.cpp has the same two cases in-process; here they go through the command line.)
#   --lr 1e30: the update of step 1 is huge but finite and is saved; the loss of step 2 is not
#              finite: stopped, the checkpoint of step 1 kept
#   --lr 3e38: the update of step 1 overflows the weights: stopped before the EMA or a
#              checkpoint sees them, so nothing is saved
# The files are checked by reading their bytes here (od), not by the program that wrote them.
set -u
exe=$1 work=$2
shift 2
emulator=("$@")
run_args=(--threads 1 train --preset test --steps 3 --batch 2 --base 8 --mults 1,2 --groups 2 --warmup 0
          --grad-clip 0 --sample-every 0 --checkpoint-every 1 --log-every 1)
rm -rf "$work"
mkdir -p "$work"

fail() { echo "FAIL: $*"; exit 1; }

# The number of non-finite values in a safetensors file of float32 tensors (every tensor the
# program writes is F32): the values after the 8-byte header length and the JSON header whose
# exponent bits are all ones (inf or NaN).
non_finite_count() {
  local header
  header=$(od -An -t u8 --endian=little -N 8 "$1" | tr -d ' ')
  [[ $header =~ ^[0-9]+$ ]] || { echo "unreadable"; return; }
  head -c $((8 + header)) "$1" | tail -c "$header" | grep -q '"dtype":"[^F]' && { echo "not all F32"; return; }
  od -An -v -t u4 --endian=little -j $((8 + header)) "$1" |
    awk '{ for (i = 1; i <= NF; ++i) if ($i % 2147483648 >= 2139095040) ++bad } END { print bad + 0 }'
}

# run NAME LR EXPECTED_MESSAGE: the run stops with status 3 and the message; then the files.
run() {
  local name=$1 lr=$2 message=$3
  local out=$work/$name
  "${emulator[@]}" "$exe" "${run_args[@]}" --lr "$lr" --out "$out" > "$out.log" 2>&1
  local status=$?
  echo "--lr $lr: exit status $status: $(grep 'training stopped' "$out.log")"
  [ "$status" -eq 3 ] || { tail -n 5 "$out.log"; fail "--lr $lr: exit status $status, expected 3"; }
  grep -q "training stopped: $message" "$out.log" || fail "--lr $lr: no message 'training stopped: $message'"
  local file count
  for file in checkpoint.safetensors ema.safetensors; do
    [ -e "$out/$file" ] || continue
    count=$(non_finite_count "$out/$file")
    echo "  $file: $(wc -c < "$out/$file") bytes, $count non-finite values"
    [ "$count" = 0 ] || fail "--lr $lr: $file holds $count non-finite values"
  done
  local left
  left=$(cd "$out" && ls -- *.tmp.* 2> /dev/null)
  [ -z "$left" ] || fail "--lr $lr: temporary files left behind: $left"
}

run loss 1e30 "the loss is .* at step 2; the last good checkpoint (.*checkpoint.safetensors) is kept"
[ -e "$work/loss/checkpoint.safetensors" ] && [ -e "$work/loss/ema.safetensors" ] ||
  fail "--lr 1e30: the checkpoint of step 1 is missing"
run weights 3e38 "the weights are no longer finite after the update of step 1; no checkpoint had been written yet"
[ -e "$work/weights/checkpoint.safetensors" ] || [ -e "$work/weights/ema.safetensors" ] &&
  fail "--lr 3e38: a checkpoint was written"

# The check itself sees a NaN: the checkpoint of step 1 with its last value made NaN (0x7fc00000).
cp "$work/loss/checkpoint.safetensors" "$work/nan.safetensors"
size=$(wc -c < "$work/nan.safetensors")
printf '\000\000\300\177' | dd of="$work/nan.safetensors" bs=1 seek=$((size - 4)) conv=notrunc status=none
[ "$(non_finite_count "$work/nan.safetensors")" = 1 ] || fail "the check missed a NaN put in a checkpoint"
echo "the check finds a NaN put in a checkpoint"

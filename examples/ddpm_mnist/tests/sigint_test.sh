#!/usr/bin/env bash
# Ctrl-C during training saves a checkpoint and exits with status 130.
#   sigint_test.sh DDPM_MNIST_BINARY WORK_DIR [EMULATOR...]
# EMULATOR: the cross-compiling emulator that runs the binary (qemu-aarch64-static -L ...), if any;
# it passes the signal on to the program.
set -u
exe=$1 out=$2
shift 2
rm -rf "$out"
"$@" "$exe" --threads 1 train --steps 100000 --batch 2 --base 8 --mults 1,2 --groups 2 --sample-every 0 \
  --checkpoint-every 0 --log-every 1 --out "$out" > "$out.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do  # wait (up to 60 s) until training has logged a step
  [ -s "$out/log.csv" ] && [ "$(wc -l < "$out/log.csv")" -ge 3 ] && break
  sleep 0.1
done
kill -INT "$pid"
wait "$pid"
status=$?
cat "$out.log" | tail -n 2
[ "$status" -eq 130 ] || { echo "exit status $status, expected 130"; exit 1; }
[ -s "$out/checkpoint.safetensors" ] || { echo "no checkpoint after Ctrl-C"; exit 1; }
grep -q "interrupted at step" "$out.log" || { echo "no interruption message"; exit 1; }
echo "Ctrl-C: checkpoint saved, exit status 130"

#!/usr/bin/env bash
# A stop signal during training (Ctrl-C's SIGINT, a polite kill's SIGTERM, a closed terminal's
# SIGHUP) saves a checkpoint and exits with status 128 + the signal's number.
#   stop_signal_test.sh SIGNAL DDPM_MNIST_BINARY WORK_DIR [EMULATOR...]
# SIGNAL: INT, TERM or HUP. EMULATOR: the cross-compiling emulator that runs the binary
# (qemu-aarch64-static -L ...), if any; it passes the signal on to the program.
set -u
signal=$1 exe=$2 out=$3
shift 3
case $signal in
  INT) expected=130 ;;
  TERM) expected=143 ;;
  HUP) expected=129 ;;
  *) echo "stop_signal_test.sh: unknown signal '$signal' (INT, TERM or HUP)"; exit 2 ;;
esac
rm -rf "$out"
"$@" "$exe" --threads 1 train --steps 100000 --batch 2 --base 8 --mults 1,2 --groups 2 --sample-every 0 \
  --checkpoint-every 0 --log-every 1 --out "$out" > "$out.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do  # wait (up to 60 s) until training has logged a step
  [ -s "$out/log.csv" ] && [ "$(wc -l < "$out/log.csv")" -ge 3 ] && break
  sleep 0.1
done
kill -"$signal" "$pid"
wait "$pid"
status=$?
tail -n 2 "$out.log"
[ "$status" -eq "$expected" ] || { echo "SIG$signal: exit status $status, expected $expected"; exit 1; }
[ -s "$out/checkpoint.safetensors" ] || { echo "no checkpoint after SIG$signal"; exit 1; }
grep -q "interrupted at step" "$out.log" || { echo "no interruption message"; exit 1; }
echo "SIG$signal: checkpoint saved, exit status $expected"

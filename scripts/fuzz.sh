#!/usr/bin/env bash
# Runs every fuzz target of the module (each `func FuzzX` in a _test.go
# file) for a bounded time, and prints per target how long its build took,
# how many inputs it ran and how fast, and its longest stall (a run of
# fuzzer status lines that report no new executions). Fails when a target
# fails, or stalls for half its fuzz time or more.
#
#   scripts/fuzz.sh [fuzztime]        (default 10s; CI uses VASAGW_FUZZTIME)
#
# Minimisation of each new interesting input is bounded (-fuzzminimizetime):
# by default Go spends up to 60 s minimising one input, counting none of
# those executions, which is what stalled FuzzFaultFromXML at 0 execs/s
# after a few seconds of a 10 s run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-${VASAGW_FUZZTIME:-10s}}"
secs="${fuzztime%s}"
status=0
summary=()
while read -r pkg target; do
  log=$(mktemp)
  start=$(date +%s)
  if ! go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=100x "$pkg" 2>&1 | tee "$log"; then
    status=1
  fi
  total=$(( $(date +%s) - start ))
  read -r execs elapsed stall < <(awk '
    /now fuzzing/ { fuzzing = 1 }
    fuzzing && /execs: / {
      match($0, /elapsed: [0-9]+s/); t = substr($0, RSTART + 9, RLENGTH - 10) + 0
      match($0, /execs: [0-9]+/); n = substr($0, RSTART + 7, RLENGTH - 7) + 0
      if (n == last) { if (since < 0) since = prev; s = t - since; if (s > stall) stall = s } else { since = -1 }
      last = n; prev = t; elapsed = t
    }
    BEGIN { since = -1; last = -1 }
    END { printf "%d %d %d\n", last < 0 ? 0 : last, elapsed, stall }' "$log")
  rate=$(( elapsed > 0 ? execs / elapsed : execs ))
  line="$target ($pkg): build $(( total - elapsed ))s, $execs execs in ${elapsed}s ($rate/s), longest stall ${stall}s"
  summary+=("$line")
  if [[ -n "$secs" && "$secs" =~ ^[0-9]+$ && $(( stall * 2 )) -ge "$secs" ]]; then
    echo "fuzz: $target stalled for ${stall}s of ${fuzztime}"; status=1
  fi
  rm -f "$log"
done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
  d="./$(dirname "${f#./}")"
  grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | sed "s|^|$d |"
done)
printf '\nfuzz summary (%s each):\n' "$fuzztime"
printf '  %s\n' "${summary[@]}"
exit "$status"

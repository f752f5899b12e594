#!/usr/bin/env bash
# bench.sh measures the gateway's cost against the SOAP floor (issue 8):
# the same SMS operations made directly with a vcenter.Session, through the
# gateway over gRPC and over REST, in one run against one simulator. It
# writes the table (cost.md), the raw cells (cost.json), CPU and allocation
# profiles taken from the gateway's admin listener, and their summaries,
# into OUT (default bench-out/cost).
#
#   scripts/bench.sh                 # 5 rounds, 700ms per variant per cell
#   ROUNDS=9 CELL=1s scripts/bench.sh
#   DELAY=10ms CONCURRENCY=16 PROFILE=0 scripts/bench.sh   # an upstream that answers 10 ms later
#
# Environment: OUT, ROUNDS, CELL, CONCURRENCY (comma-separated, default
# 1,16,64), PROFILE (seconds of profile per variant, 0 to skip), DELAY (a
# proxy between the callers and the simulator holds every request that
# long), ONLY (VASAGW_COST_ONLY: operations and variants to keep).
set -euo pipefail

cd "$(dirname "$0")/.."
out="$(realpath -m "${OUT:-bench-out/cost}")"
mkdir -p "$out"

{
  echo "# machine"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "go: $(go version)"
  echo "kernel: $(uname -r)"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet -- . || echo '+dirty')"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
} | tee "$out/machine.txt"

VASAGW_COST_REPORT="$out" \
VASAGW_COST_ROUNDS="${ROUNDS:-5}" \
VASAGW_COST_CELL="${CELL:-700ms}" \
VASAGW_COST_CONCURRENCY="${CONCURRENCY:-1,16,64}" \
VASAGW_COST_PROFILE="${PROFILE:-8}" \
VASAGW_COST_UPSTREAM_DELAY="${DELAY:-}" \
VASAGW_COST_ONLY="${ONLY:-${VASAGW_COST_ONLY:-}}" \
  go test -run '^TestCostReport$' -count=1 -timeout 60m -v ./internal/server/ | tee "$out/run.log"

# Profiles: where the CPU goes by part (gateway, simulator, load generator)
# and, for the gateway's part alone, by function; allocations likewise.
summary="$out/profile.txt"
: >"$summary"
for variant in floor grpc rest; do
  cpu="$out/profile-$variant.pprof"
  allocs="$out/allocs-$variant.pprof"
  [[ -s "$cpu" ]] || continue
  {
    echo "===== $variant: CPU by part"
    go tool pprof -tags -tagfocus=part "$cpu" 2>/dev/null | sed -n '/part/,/^$/p'
    echo "===== $variant: CPU of part=gateway, top by cumulative"
    go tool pprof -top -cum -nodecount=60 -tagfocus=part=gateway "$cpu" 2>/dev/null | sed -n '1,70p'
    echo "===== $variant: CPU of part=gateway, top by flat"
    go tool pprof -top -nodecount=40 -tagfocus=part=gateway "$cpu" 2>/dev/null | sed -n '1,50p'
    echo "===== $variant: allocated bytes of part=gateway, top by flat"
    go tool pprof -top -sample_index=alloc_space -nodecount=40 -tagfocus=part=gateway "$allocs" 2>/dev/null | sed -n '1,50p'
  } >>"$summary"
done
echo "wrote $out/cost.md, $out/cost.json, $summary and the profiles"

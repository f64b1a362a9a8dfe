#!/usr/bin/env bash
# Rules against the peer in one run (issue 22): GoRules ZEN on its own credit-limit-adjustment
# graph, the same decision as one Rhai script (the peer's floor for Rhai), and creditline's
# full application evaluation (the four intake rules, `cargo bench --bench rules`), taking
# turns round by round so the machine's drift falls on all three alike.
#
# Usage: benches/rules-vs-zen.sh GRAPH.json [ROUNDS]
#   GRAPH.json  ZEN's test-data/graphs/credit-limit-adjustment.json (from the gorules/zen
#               repository; not kept here: it is theirs)
#   ROUNDS      rounds of the three (3)
# The peer is ../shared/peer/zen-bench, built here into target/zen-bench (its first build
# takes about 10 minutes on two cores).
set -euo pipefail
cd "$(dirname "$0")/.."
graph="${1:?usage: benches/rules-vs-zen.sh GRAPH.json [ROUNDS]}"
rounds="${2:-3}"
[ -f "$graph" ] || { echo "no graph at $graph" >&2; exit 2; }
peer_src="../shared/peer/zen-bench"
[ -d "$peer_src" ] || { echo "the peer is not at $peer_src" >&2; exit 2; }

target="${CARGO_TARGET_DIR:-target}"
peer="$target/zen-bench"
# The shared folder is read-only: build a copy of it.
mkdir -p "$peer"
cp -r "$peer_src/." "$peer/src-copy"
chmod -R u+w "$peer/src-copy"
(cd "$peer/src-copy" && CARGO_TARGET_DIR="$(realpath "$peer")/target" cargo build --release -q)
zen="$peer/target/release/zen-bench"
rhai="$peer/target/release/rhai-bench"

bench=$(cargo bench --no-run --bench rules --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "rules" and m.get("executable"):
        print(m["executable"])')
[ -x "$bench" ] || { echo "the rules benchmark did not build" >&2; exit 1; }

for r in $(seq "$rounds"); do
  echo "round $r"
  "$zen" "$graph" 100000 2>/dev/null
  "$rhai" "$peer/src-copy/credit_limit_adjustment.rhai" 100000 2>/dev/null
  "$bench" --bench full_application_evaluation --warm-up-time 1 --measurement-time 4 --noplot 2>/dev/null \
    | awk '/time:/ {print "creditline full application evaluation (four rules):", $4, $5, "(criterion median)"}'
done

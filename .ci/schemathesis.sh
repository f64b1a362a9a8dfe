#!/usr/bin/env bash
# Schemathesis against the real server: builds creditline, starts `creditline serve` on a free
# loopback port over a fresh SQLite database with the test corpus ingested (so there are real
# applications and tasks), and fuzzes every operation of GET /api/v1/openapi.json, once as an
# admin and once as a senior reviewer (the admin-only and the decision endpoints). It fails on
# any 5xx and on any response the document does not describe (status, content type, schema).
#
# Installs schemathesis from PyPI into a venv under target/ (kept between runs).
# Environment: ST_MAX_EXAMPLES (default 50) and ST_MAX_TIME (seconds per run, default 120)
# bound the budget; ST_SEED makes a run reproducible; ST_VENV moves the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

ST_VERSION="4.32.5"
VENV="${ST_VENV:-$REPO/target/schemathesis/venv}"
ST_DIR="$REPO/target/schemathesis"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-50}"
MAX_TIME="${ST_MAX_TIME:-120}"

# --- schemathesis ------------------------------------------------------------------------
ensure_venv_support() {
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null && return 0
  # Debian's python3 ships venv/ensurepip separately.
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -q python3-venv >/dev/null 2>&1 \
      || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q python3-venv >/dev/null; } \
      || true
  fi
  python3 -c 'import ensurepip' 2>/dev/null
}

ST=""
if [ -x "$VENV/bin/st" ] && [ "$("$VENV/bin/st" --version 2>/dev/null)" = "st, version $ST_VERSION" ]; then
  ST="$VENV/bin/st"
elif ensure_venv_support; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
  ST="$VENV/bin/st"
else
  # No venv to be had: a user install (PEP 668 systems need the override).
  python3 -m pip install --quiet --user "schemathesis==$ST_VERSION" \
    || python3 -m pip install --quiet --user --break-system-packages "schemathesis==$ST_VERSION"
  ST="$(python3 -m site --user-base)/bin/st"
fi
"$ST" --version

# --- the server ---------------------------------------------------------------------------
cargo build --quiet
BIN="$REPO/target/debug/creditline"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The binary reads ./creditline.toml and rules/, workflows/, templates/ relative to its working
# directory. Copies, so a rules reload through the API reads exactly the shipped files.
cp -r "$REPO/rules" "$REPO/workflows" "$REPO/templates" "$WORK/"
cat >"$WORK/creditline.toml" <<'TOML'
database_url = "sqlite://creditline.db"
log_level = "warn"
TOML
cl() { (cd "$WORK" && env -u CREDITLINE_DATABASE_URL "$BIN" "$@"); }

cl migrate
cl ingest "$REPO/tests/corpus" >/dev/null
ADMIN_TOKEN="$(cl tokens create --name st-admin --role admin 2>/dev/null | tail -n 1)"
SENIOR_TOKEN="$(cl tokens create --name st-senior --role senior_reviewer 2>/dev/null | tail -n 1)"

(cd "$WORK" && exec env -u CREDITLINE_DATABASE_URL "$BIN" serve --listen 127.0.0.1:0 >"$WORK/serve.out" 2>"$WORK/serve.err") &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR="$(sed -n '1s#^listening on http://##p' "$WORK/serve.out" 2>/dev/null || true)"
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.err" >&2; echo "creditline serve exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/serve.err" >&2; echo "creditline serve did not start" >&2; exit 1; }
echo "server at http://$ADDR"

# One approval through the API, so there is a credit line for its endpoints to show.
python3 - "$ADDR" "$SENIOR_TOKEN" <<'PY'
import json, sys, urllib.request
addr, token = sys.argv[1:]
def call(method, path, body=None):
    req = urllib.request.Request(f"http://{addr}{path}", method=method, data=body and json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)
tasks = call("GET", "/api/v1/tasks?kind=application_review")["items"]
assert tasks, "the corpus opened no application_review task"
decided = call("POST", f"/api/v1/tasks/{tasks[0]['id']}/approve", {"monthly_limit_cents": 100})
assert decided["credit_line"], decided
print(f"approved {decided['application']['reference']}: credit line {decided['credit_line']['id']}")
PY

# --- the runs -----------------------------------------------------------------------------
# Checks: every response is a non-5xx the document describes (status, content type, headers,
# schema); requests without the token get 401; a method a path does not take gets 405 with Allow.
# Left out, on purpose:
#   negative_data_rejection  - the server reads leniently what the document states strictly: an
#                              If-Match of ` 3 ` or `"3`, a UUID without hyphens, any `CL-...`
#                              reference; those are answered, not refused;
#   positive_data_acceptance - schema-valid requests name tasks that do not exist or are closed,
#                              approve above the rule's suggestion, send an If-Match that is stale:
#                              404, 409 and 422 are the right answers there;
#   use_after_free, ensure_resource_availability - nothing is deleted, nothing is created and
#                              then fetched by a Location: the API has no such pairs.
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,ignored_auth,unsupported_method,allow_header_conformance"
SEED_ARGS=()
[ -n "${ST_SEED:-}" ] && SEED_ARGS=(--seed "$ST_SEED")

# The inbox body is a raw message (message/rfc822): the hooks file sends it as bytes.
export SCHEMATHESIS_HOOKS="$REPO/.ci/schemathesis_hooks.py"

# One worker: with several, Hypothesis' lambda-description cache races in its threads on
# CPython 3.11 ("AST constructor recursion depth mismatch"), an error in the tool, not the API.
run_st() {
  local who="$1" token="$2"
  shift 2
  printf '\n--- schemathesis as %s\n' "$who"
  # Its working directory keeps its cache (.schemathesis/) and reports under target/.
  mkdir -p "$ST_DIR"
  (cd "$ST_DIR" && "$ST" run "http://$ADDR/api/v1/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --max-time "$MAX_TIME" \
    --request-timeout 30 \
    --workers 1 \
    --suppress-health-check too_slow,filter_too_much \
    --report junit --report-dir "$ST_DIR/report/$who" \
    "${SEED_ARGS[@]}" \
    "$@")
}

status=0
# Admins may do everything but decide; senior reviewers decide and read, but neither reload
# rules, post workflow events nor hand in inbox messages.
run_st admin "$ADMIN_TOKEN" --exclude-tag decisions || status=1
run_st senior_reviewer "$SENIOR_TOKEN" --exclude-tag-regex '^(admin|inbox)$' || status=1

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "the server died during the run:" >&2
  tail -n 50 "$WORK/serve.err" >&2
  status=1
fi
if grep -qi panicked "$WORK/serve.err"; then
  echo "the server panicked during the run:" >&2
  grep -i -A3 panicked "$WORK/serve.err" | head -n 40 >&2
  status=1
fi
exit "$status"

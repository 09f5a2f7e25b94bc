#!/bin/sh
# Wishstar step entrypoint: every step container of a task Pod runs this file (ConfigMap key "entrypoint").
#
# Kubernetes starts all containers of a Pod at once, but a task's steps must run one after another, share a
# working directory, stop after a failing step and hand their results back. Through files in a shared emptyDir:
#   * step i waits for $RUN/<i-1>/done (written atomically with mv) before it starts;
#   * when an earlier stopAndFail step failed ($RUN/failed exists) it exits 0 without running, saying
#     {"skipped":true} in its termination message;
#   * otherwise it runs the step: a script file from the ConfigMap (sh -e FILE unless its first line is a
#     shebang, then the file itself) or the command and arguments after --, under timeout when the step has a
#     time limit (or a background killer where timeout is missing); exit code 124 means the limit was hit;
#   * it records the exit code in $RUN/<i>/exitCode and its termination message ({"exitCode":N}); a failing
#     stopAndFail step writes $RUN/failed and exits with the step's code, a failing continue step exits 0;
#   * the last step also writes the task's results (files in $RESULTS) as JSON into its termination message,
#     and fails with a clear message when they do not fit the Pod's termination-message budget.
#
# It must not evaluate anything it is given: scripts arrive as files, commands as argv; nothing from the
# pipeline file or the git event is ever placed inside this text. The arguments are built by
# engine/compiler/entrypoint.py (entrypoint_args). Paths can be moved with WISHSTAR_RUN_DIR,
# WISHSTAR_RESULTS_DIR and WISHSTAR_TERMINATION_LOG (the tests run it for real in a temp dir);
# WISHSTAR_TIMEOUT_MODE=kill forces the background killer. Results need awk, tr and tail in the last step's
# image; every step image needs /bin/sh. Checked by shellcheck in .ci/run.
set -u
run_dir=${WISHSTAR_RUN_DIR:-/wishstar/run}
results_dir=${WISHSTAR_RESULTS_DIR:-/wishstar/results}
message_file=${WISHSTAR_TERMINATION_LOG:-/dev/termination-log}

index=0 name=step timeout='' on_error=stopAndFail script='' last='' results='' limit=4096
while [ $# -gt 0 ]; do
  case $1 in
    --index) index=$2; shift 2 ;;
    --name) name=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --on-error) on_error=$2; shift 2 ;;
    --script) script=$2; shift 2 ;;
    --last) last=1; shift ;;
    --results) results=$2; shift 2 ;;
    --message-limit) limit=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "wishstar: entrypoint: unknown option $1" >&2; exit 2 ;;
  esac
done
me="$run_dir/$index"
mkdir -p "$me" "$results_dir"

# Hand over to the next step: its wait loop looks only for "done", which appears in one rename.
finish() {
  printf '%s\n' "$1" > "$me/exitCode"
  printf '%s\n' "$1" > "$me/done.tmp" && mv "$me/done.tmp" "$me/done"
  exit "$2"
}

# One file's content as a JSON string, without the quotes. Plain concatenation, not gsub: awks disagree
# on backslashes in gsub replacements. Control characters JSON cannot hold raw (but tab, CR, LF) are dropped.
json_string() {
  tr -d '\000-\010\013\014\016-\037' < "$1" | awk '
    function esc(s,   out, i, c) {
      out = ""
      for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\") out = out "\\\\"
        else if (c == "\"") out = out "\\\""
        else if (c == "\t") out = out "\\t"
        else if (c == "\r") out = out "\\r"
        else out = out c
      }
      return out
    }
    { if (NR > 1) printf "%s", "\\n"; printf "%s", esc($0) }'
  if [ -s "$1" ] && [ -z "$(tail -c 1 "$1")" ]; then printf '%s' '\n'; fi
}

# The last step's termination message: its exit code and every declared result that was written.
results_message() {
  printf '{"exitCode":%s,"results":{' "$1"
  sep=
  for r in $(printf '%s' "$results" | tr ',' ' '); do
    [ -f "$results_dir/$r" ] || continue
    printf '%s"%s":"' "$sep" "$r"
    json_string "$results_dir/$r"
    printf '"'
    sep=,
  done
  printf '}}'
}

if [ "$index" -gt 0 ]; then
  while [ ! -f "$run_dir/$((index - 1))/done" ]; do sleep 0.1 2>/dev/null || sleep 1; done
fi
if [ -f "$run_dir/failed" ]; then
  echo "wishstar: step $name skipped: step $(cat "$run_dir/failed") failed" >&2
  printf '{"skipped":true}' > "$message_file"
  finish skipped 0
fi

if [ -n "$script" ]; then
  first=
  IFS= read -r first < "$script" || :
  case $first in
    '#!'*) set -- "$script" ;;
    *) set -- /bin/sh -e "$script" ;;
  esac
fi
if [ $# -eq 0 ]; then
  echo "wishstar: step $name has nothing to run" >&2
  set -- false
fi

timed_out=
if [ -z "$timeout" ]; then
  "$@"; code=$?
elif [ "${WISHSTAR_TIMEOUT_MODE:-}" != kill ] && command -v timeout >/dev/null 2>&1; then
  started=$(date +%s)
  timeout "$timeout" "$@"; code=$?
  # GNU timeout exits 124; busybox's lets the step die of the signal (143, or 137 after KILL)
  if [ "$code" -eq 124 ] || { [ "$code" -eq 143 ] || [ "$code" -eq 137 ]; } \
      && [ $(( $(date +%s) - started )) -ge "$timeout" ]; then
    code=124; timed_out=1
  fi
else
  "$@" &
  pid=$!
  ( sleep "$timeout"; : > "$me/timedOut"; kill -TERM "$pid"; sleep 5; kill -KILL "$pid" ) >/dev/null 2>&1 &
  killer=$!
  wait "$pid"; code=$?
  kill "$killer" 2>/dev/null
  [ -f "$me/timedOut" ] && { code=124; timed_out=1; }
fi
[ -n "$timed_out" ] && echo "wishstar: step $name stopped after its ${timeout}s time limit" >&2

status=0
if [ "$code" -ne 0 ] && [ "$on_error" != continue ]; then
  printf '%s\n' "$name" > "$run_dir/failed"
  status=$code
fi
if [ -n "$last" ] && [ "$status" -eq 0 ]; then
  results_message "$code" > "$me/message"
  size=$(wc -c < "$me/message")
  if [ "$size" -gt "$limit" ]; then
    error="results take $size bytes, more than the $limit bytes Kubernetes keeps"
    error="$error for this step's termination message"
    echo "wishstar: task failed: $error" >&2
    printf '{"exitCode":%s,"error":"%s"}' "$code" "$error" > "$message_file"
    printf '%s\n' "$name" > "$run_dir/failed"
    finish "$code" 1
  fi
  cat "$me/message" > "$message_file"
else
  printf '{"exitCode":%s}' "$code" > "$message_file"
fi
finish "$code" "$status"

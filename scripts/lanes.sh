# Sourced by scripts/pytest-all and scripts/torture-short: run one function
# per CPython version, SPLICE_JOBS at a time (default 2, or 1 on a one-core
# machine). The versions are independent (own venv, own extension file), and
# CI's machine has 2 cores that a single version's run leaves half idle.
# Each run's output goes to a file and is printed whole when that run ends
# (one at a time, under a lock), so the versions' lines never interleave.
#
# run_lanes FUNC MINOR...   calls FUNC MINOR for each MINOR; afterwards
#                           LANE_RC[MINOR] holds each call's exit status.
run_lanes() {
  local fn="$1"; shift
  local cores; cores="$(nproc 2>/dev/null || echo 1)"
  local jobs="${SPLICE_JOBS:-$(( cores < 2 ? 1 : 2 ))}"
  local dir; dir="$(mktemp -d)"
  declare -gA LANE_RC=()
  local m
  for m in "$@"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    (
      start=$(date +%s)
      "$fn" "$m" > "$dir/$m.log" 2>&1
      rc=$?
      echo "(3.$m: $(( $(date +%s) - start )) s)" >> "$dir/$m.log"
      echo "$rc" > "$dir/$m.rc"
      flock "$dir/print.lock" cat "$dir/$m.log"
    ) &
  done
  wait
  for m in "$@"; do LANE_RC[$m]="$(cat "$dir/$m.rc" 2>/dev/null || echo 1)"; done
  rm -rf "$dir"
}

# Sourced by every step of several parts (render/script_parts.py), each of which runs in a
# subshell of its own: `part_done NAME STATUS` after it ends the step when it failed, naming it.
part_done() {
  set -e
  if [ "$2" -ne 0 ]; then
    echo "error: $K8SFS_STEP: $1 failed (exit $2)" >&2
    exit "$2"
  fi
}

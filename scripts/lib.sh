# Shared helpers for the task scripts (sourced, not a task: it is not executable).
# Params reach tasks only as HTTPAGENT_PARAM_* variables; every use below is quoted.

die() {
  printf 'error: %s\n' "$*" >&2
  exit 2
}

# A service directory must be an absolute path without "..", and never "/" itself.
check_service_dir() {
  case "$1" in
    /) die "dir must not be /" ;;
    /*) ;;
    *) die "dir must be an absolute path, got: $1" ;;
  esac
  case "/$1/" in
    */../*|*/./*) die "dir must not contain . or .. components: $1" ;;
  esac
}

# Names used as path components: a release name, for example.
check_name() {
  case "$1" in
    ''|.*|*[!A-Za-z0-9_.-]*) die "invalid name (1+ of A-Z a-z 0-9 _ . -, not starting with a dot): $1" ;;
  esac
}

# Alive and not a zombie: a killed service whose parent is gone stays a zombie until init reaps it,
# and kill -0 succeeds on zombies.
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  state=$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)
  [ "$state" != "Z" ]
}

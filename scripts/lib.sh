# Shared helpers for the task scripts: refusals, operator settings and the path checks every task runs
# before it touches anything (sourced, not a task: it is not executable).
# Params reach tasks only as HTTPAGENT_PARAM_* variables; operator settings (SERVICE_ROOTS, ...) come
# from the environment the agent builds from scripts/tasks.yaml. Every expansion below is quoted.
# Needs GNU coreutils (realpath -m, stat -c), as on every Debian/Ubuntu host.

die() {
  printf 'error: %s\n' "$*" >&2
  exit 2
}

# The real path of $1, following every symlink, also when the last components do not exist yet.
real_path() {
  realpath -m -- "$1"
}

# True when real path $1 lies strictly below real path $2 (never when they are equal).
below() {
  case "$1" in "$2"/*) return 0 ;; esac
  [ "$2" = / ] && [ "$1" != / ]
}

# Newline-separated real paths of the colon-separated list $1 (named $2 in messages). A relative entry
# or "/" is a configuration error; a root that does not exist is skipped: nothing can lie inside it.
resolve_roots() {
  _rr_out=''
  _rr_ifs=$IFS
  IFS=:
  set -f
  for _rr in $1; do
    [ -n "$_rr" ] || continue
    case "$_rr" in /*) ;; *) die "$2 entries must be absolute paths, got: $_rr" ;; esac
    [ -d "$_rr" ] || continue
    _rr=$(realpath -e -- "$_rr")
    [ "$_rr" != / ] || die "$2 must not contain /"
    _rr_out="$_rr_out$_rr
"
  done
  set +f
  IFS=$_rr_ifs
  printf '%s' "$_rr_out"
}

# True when real path $1 lies strictly below one of the newline-separated real roots in $2.
below_any() {
  _ba_ifs=$IFS
  IFS='
'
  set -f
  for _ba in $2; do
    if below "$1" "$_ba"; then
      set +f
      IFS=$_ba_ifs
      return 0
    fi
  done
  set +f
  IFS=$_ba_ifs
  return 1
}

# SERVICE_ROOTS (default /srv): the only places service directories may be.
service_roots() {
  resolve_roots "${SERVICE_ROOTS-/srv}" SERVICE_ROOTS
}

# Validates param dir ($1) and sets $svc to its real path, strictly inside a service root.
# The lexical checks give clear messages; the real-path check is the one that holds against symlinks.
check_service_dir() {
  case "$1" in
    /) die "dir must not be /" ;;
    /*) ;;
    *) die "dir must be an absolute path, got: $1" ;;
  esac
  case "/$1/" in
    */../*|*/./*) die "dir must not contain . or .. components: $1" ;;
  esac
  _roots=$(service_roots)
  [ -n "$_roots" ] || die "no service root exists (SERVICE_ROOTS=${SERVICE_ROOTS-/srv})"
  svc=$(real_path "$1")
  below_any "$svc" "$_roots" || die "dir $1 (real path $svc) is not inside a service root (SERVICE_ROOTS=${SERVICE_ROOTS-/srv})"
}

# Dies unless the real path of $1 is $2 itself or lies below it: a symlink planted inside a service
# directory (releases -> /etc) must not steer a write or a removal out of it.
need_inside() {
  _ni=$(real_path "$1")
  [ "$_ni" = "$2" ] || below "$_ni" "$2" || die "$1 leads outside $2 (real path $_ni)"
}

# A path the task is about to write: inside $2 and not a symlink (writing would follow it).
need_plain() {
  need_inside "$1" "$2"
  [ ! -L "$1" ] || die "$1 is a symlink; refusing to write through it"
}

# Names used as path components: a release name, for example.
check_name() {
  case "$1" in
    ''|.*|*[!A-Za-z0-9_.-]*) die "invalid name (1+ of A-Z a-z 0-9 _ . -, not starting with a dot): $1" ;;
  esac
}

# A non-negative integer param $2 named $1.
check_uint() {
  case "$2" in *[!0-9]*|'') die "$1 must be a whole number, got: $2" ;; esac
}

# A non-negative number of seconds, fractions allowed (sleep takes them): param $2 named $1.
check_seconds() {
  case "$2" in ''|.*|*.|*.*.*|*[!0-9.]*) die "$1 must be a number of seconds, got: $2" ;; esac
}

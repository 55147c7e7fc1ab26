# The service's processes: starting <dir>/current/bin/start in a session of its own, and stopping that
# session's process group only when it can be proven to be the one we started (sourced after lib.sh).
#
# <dir>/run/service.pid holds "<pid> <start time>": the start time is field 22 of /proc/<pid>/stat
# (clock ticks after boot), fixed for a process's life. A pid is reused after its process is gone; the
# pair is not, so a pid file that outlived its service (or was written by someone else) never points
# the signal at a stranger.

# Sets ps_state, ps_pgrp, ps_sid and ps_start from /proc/$1/stat; fails when there is no such process.
# `read` is a builtin: the grace loop below scans every process ten times a second without forking.
proc_stat() {
  { IFS= read -r _ps_line < "/proc/$1/stat"; } 2>/dev/null || return 1
  # The command name in parentheses may hold spaces and ")": everything up to the last ") " goes.
  _ps_line=${_ps_line##*) }
  set -f
  # shellcheck disable=SC2086 # split into the stat fields on purpose
  set -- $_ps_line
  set +f
  [ "$#" -ge 20 ] || return 1
  ps_state=$1
  ps_pgrp=$3
  ps_sid=$4
  shift 19
  ps_start=$1
}

# Space-separated pids of the live (not zombie) members of process group $1. Zombies are skipped: an
# orphan whose new parent never reaps it stays one, and it holds nothing.
group_members() {
  _gm=''
  for _gm_dir in /proc/[0-9]*; do
    _gm_pid=${_gm_dir#/proc/}
    proc_stat "$_gm_pid" || continue
    [ "$ps_pgrp" = "$1" ] && [ "$ps_state" != Z ] && _gm="$_gm $_gm_pid"
  done
  printf '%s' "${_gm# }"
}

# True while group $1 has a live member. kill -s 0 (a builtin, no fork) settles the common case of a
# group that is gone entirely; only a group that still has processes is scanned for non-zombies.
group_alive() {
  kill -s 0 -- "-$1" 2>/dev/null || return 1
  [ -n "$(group_members "$1")" ]
}

# Sets now_cs to the centiseconds since boot (/proc/uptime, read without forking): waits are measured
# in time, not in loop turns, which a loaded host stretches.
uptime_cs() {
  read -r _up _ < /proc/uptime
  now_cs=${_up%.*}${_up#*.}
  now_cs=${now_cs#"${now_cs%%[!0]*}"}
  now_cs=${now_cs:-0}
}

# Waits up to $2 centiseconds for group $1 to end; fails if it is still there.
wait_group_gone() {
  uptime_cs
  _wg_end=$((now_cs + $2))
  while group_alive "$1"; do
    uptime_cs
    [ "$now_cs" -lt "$_wg_end" ] || return 1
    sleep 0.1
  done
}

# True when process $1's working directory, executable, or one of the first two words of its command
# line (a script run by an interpreter) lies under $2/releases (the real service directory).
in_releases() {
  for _ir_link in cwd exe; do
    _ir=$(readlink "/proc/$1/$_ir_link" 2>/dev/null) || continue
    below "$_ir" "$2/releases" && return 0
  done
  _ir_args=$(tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | head -n 2) || return 1
  _ir_ifs=$IFS
  IFS='
'
  set -f
  for _ir in $_ir_args; do
    case "$_ir" in /*) ;; *) continue ;; esac
    if below "$(real_path "$_ir")" "$2/releases"; then
      set +f
      IFS=$_ir_ifs
      return 0
    fi
  done
  set +f
  IFS=$_ir_ifs
  return 1
}

# Decides whether process group $2 is the service of $1 started at time $3. Sets `why` when it is not,
# and `members` to the group's live pids. Returns 0 proven, 1 not proven, 3 nothing of it is running.
#  - leader alive: it must still be the process we started (same start time), lead its own session
#    and group, and run from a release of this service;
#  - leader gone: a group id is not handed out again while any member lives, so the remaining members
#    are still that session's; each must also have started after it and run from a release.
prove_group() {
  members=$(group_members "$2")
  if proc_stat "$2" && [ "$ps_state" != Z ]; then
    if [ "$ps_start" != "$3" ]; then why="pid $2 is another process now (start time $ps_start, recorded $3)"; return 1; fi
    if [ "$ps_pgrp" != "$2" ] || [ "$ps_sid" != "$2" ]; then why="pid $2 does not lead its own session and process group"; return 1; fi
    if ! in_releases "$2" "$1"; then why="pid $2 runs from neither $1/releases (cwd, exe) nor a command under it"; return 1; fi
    return 0
  fi
  [ -n "$members" ] || return 3
  for _pg in $members; do
    proc_stat "$_pg" || continue
    if [ "$ps_sid" != "$2" ]; then why="pid $_pg of group $2 is in another session"; return 1; fi
    if [ "$ps_start" -lt "$3" ]; then why="pid $_pg of group $2 is older than the service"; return 1; fi
    if ! in_releases "$_pg" "$1"; then why="pid $_pg of group $2 does not run from $1/releases"; return 1; fi
  done
  return 0
}

# Stops the service of real service directory $1, giving it $2 seconds after SIGTERM before SIGKILL.
# Prints what it did. Never signals a group it cannot prove (see prove_group), and never a bare pid.
service_stop() {
  _pf="$1/run/service.pid"
  if [ ! -e "$_pf" ] && [ ! -L "$_pf" ]; then
    printf 'no pid file: no service to stop\n'
    return 0
  fi
  if [ -L "$_pf" ] || [ ! -f "$_pf" ]; then
    printf 'not signalled: %s is not a regular file\n' "$_pf"
    return 0
  fi
  _pid='' _st=''
  read -r _pid _st _ < "$_pf" || true
  case "$_pid" in ''|0|*[!0-9]*) printf 'not signalled: %s holds no pid\n' "$_pf"; return 0 ;; esac
  case "$_st" in ''|*[!0-9]*) printf 'not signalled: pid %s (the pid file records no start time)\n' "$_pid"; return 0 ;; esac
  why=''
  _rc=0
  prove_group "$1" "$_pid" "$_st" || _rc=$?
  case "$_rc" in
    3) printf 'service (group %s) was not running\n' "$_pid"; rm -f -- "$_pf"; return 0 ;;
    1) printf 'not signalled: %s\n' "$why"; return 0 ;;
  esac
  printf 'stopping service group %s (pids %s)\n' "$_pid" "$members"
  # "kill -s TERM -- -PGID": the form both dash's builtin and /bin/kill accept for a group
  # (dash takes "-TERM -- -PGID" for a signal named "-").
  kill -s TERM -- "-$_pid" 2>/dev/null || true
  if ! wait_group_gone "$_pid" $(($2 * 100)); then
    printf 'group %s ignored SIGTERM for %ss; sending SIGKILL\n' "$_pid" "$2"
    kill -s KILL -- "-$_pid" 2>/dev/null || true
    wait_group_gone "$_pid" 1000 || die "group $_pid survived SIGKILL for 10s"
  fi
  rm -f -- "$_pf"
  printf 'stopped service group %s\n' "$_pid"
}

# Starts $1/current/bin/start (real service directory $1) in a new session, output appended to
# $1/shared/logs/service.log, and records "<pid> <start time>" in $1/run/service.pid.
# Returns 1 when the service exits before its session is set up; 0 when there is no bin/start.
service_start() {
  _bin="$1/current/bin/start"
  if [ ! -e "$_bin" ]; then
    printf 'no %s: nothing to start\n' "$_bin"
    return 0
  fi
  need_inside "$_bin" "$1/releases"
  [ -x "$_bin" ] || die "$_bin is not executable"
  mkdir -p -- "$1/shared/logs" "$1/run" || die "cannot create $1/shared/logs or $1/run"
  need_plain "$1/shared/logs/service.log" "$1"
  need_plain "$1/run/service.pid" "$1"
  # A subshell that execs: its pid is the service's. A new session so that the job's cancel (a signal
  # to the task's group) does not reach the service, and the service's group id is its own pid. Not
  # our pipes (the job would wait for them to close), nor the deploy lock (fd 9), nor our params.
  (
    cd "$1/current" || exit 1
    exec env -i PATH="$PATH" HOME="$1" SERVICE_DIR="$1" setsid "$_bin" </dev/null >>"$1/shared/logs/service.log" 2>&1 9>&-
  ) &
  _spid=$!
  _waited=0
  while :; do
    if ! proc_stat "$_spid" || [ "$ps_state" = Z ]; then
      printf 'service exited at once (see %s/shared/logs/service.log)\n' "$1"
      return 1
    fi
    [ "$ps_sid" = "$_spid" ] && break
    [ "$_waited" -lt 100 ] || die "pid $_spid did not start a session of its own"
    sleep 0.1
    _waited=$((_waited + 1))
  done
  # Callers test this function's status, which turns set -e off inside it: failures are checked here.
  _tmp=$(mktemp "$1/run/.service.pid.XXXXXX") || die "cannot write in $1/run"
  printf '%s %s\n' "$_spid" "$ps_start" > "$_tmp" || die "cannot write $_tmp"
  mv -T -f -- "$_tmp" "$1/run/service.pid" || die "cannot replace $1/run/service.pid"
  printf 'started %s as group %s\n' "$(readlink -- "$1/current")" "$_spid"
}

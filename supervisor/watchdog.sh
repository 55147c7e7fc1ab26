#!/usr/bin/env bash
# httpagent watchdog: run from cron every minute, as root. Two jobs:
# - supervisord cannot be reached (supervisorctl exit 4): stop what the dead supervisord left running,
#   then start supervisord again.
# - one of httpagent's programs is FATAL (supervisord gave up after startretries): start it again, at
#   most once per program every MIN_INTERVAL seconds (default 600), remembered in STATE_DIR. A release
#   that crashes at start would otherwise stay down until someone runs `supervisorctl start`; the
#   interval keeps a program that cannot start from being restarted forever every minute.
# Programs that are not httpagent's (names not starting with "httpagent") are left alone.
#
# Usage: watchdog.sh [-c SUPERVISORD_CONF] [-l LOCK_FILE] [-r "RESTART COMMAND"] [-w WAIT_SEC]
#                    [-k PROGRAM_PATH [-t STOP_WAIT_SEC]] [-s STATE_DIR] [-m MIN_INTERVAL_SEC]
# -k: a killed supervisord leaves its programs running, orphaned; a new supervisord would start a
#     second agent beside the first (port taken, FATAL). Processes whose command line contains
#     PROGRAM_PATH are stopped first: SIGTERM (the agent drains), SIGKILL after STOP_WAIT_SEC.
set -u

log() { printf '%s httpagent-watchdog: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# Stops the programs a dead supervisord left behind, each with its process group. The agent's task
# scripts have groups of their own: on TERM the agent drains and stops them itself.
stop_orphans() {
  # The entry followed by its command: matches the programs, not this script's own "-k PATH" argument.
  local pattern="$1 (agent|monitor|supervisor-listener)( |\$)" stop_wait="$2" pids pid i
  pids=$(pgrep -f -- "$pattern" || true)
  [ -n "$pids" ] || return 0
  log "stopping programs left by the dead supervisord: $(echo $pids)"
  for pid in $pids; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < stop_wait * 2; i++)); do
    pids=$(pgrep -f -- "$pattern" || true)
    [ -n "$pids" ] || return 0
    sleep 0.5
  done
  log "still running after ${stop_wait}s, killing: $(echo $pids)"
  for pid in $pids; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
}

# Starts each FATAL httpagent program whose last start by the watchdog is MIN_INTERVAL seconds old or more.
start_fatal() {
  local conf="$1" state_dir="$2" min_interval="$3" status name now last file
  status=$(supervisorctl -c "$conf" status 2>/dev/null)
  now=$(date +%s)
  while read -r name state _; do
    [ "$state" = FATAL ] || continue
    # Only our programs, and only names supervisorctl itself would print (nothing reaches a path unchecked).
    [[ "$name" =~ ^httpagent[A-Za-z0-9_.:-]*$ ]] || continue
    if ! { [ -d "$state_dir" ] || mkdir -m 0700 -- "$state_dir"; }; then
      log "$name is FATAL, but the state dir $state_dir cannot be made; not starting it (no rate limit without it)"
      continue
    fi
    file="$state_dir/fatal-start.${name//:/_}"
    last=0
    [ -f "$file" ] && read -r last <"$file"
    [[ "$last" =~ ^[0-9]{1,12}$ ]] || last=0
    if [ $((now - last)) -lt "$min_interval" ]; then
      log "$name is FATAL again; started $((now - last))s ago, next try after ${min_interval}s (look at its log)"
      continue
    fi
    printf '%s\n' "$now" >"$file"
    log "$name is FATAL; starting it"
    if supervisorctl -c "$conf" start "$name" >/dev/null 2>&1; then
      log "$name started"
    else
      log "$name did not start: $(supervisorctl -c "$conf" status "$name" 2>&1 | head -n 1)"
    fi
  done <<<"$status"
}

main() {
  local conf="/etc/supervisor/supervisord.conf"
  local lock="/run/lock/httpagent-watchdog.lock"
  local restart_cmd=""
  local wait_sec=15
  local orphan_path="" stop_wait=60
  local state_dir="/var/lib/httpagent-watchdog" min_interval=600
  while getopts "c:l:r:w:k:t:s:m:h" opt; do
    case "$opt" in
      c) conf="$OPTARG" ;;
      l) lock="$OPTARG" ;;
      r) restart_cmd="$OPTARG" ;;
      w) wait_sec="$OPTARG" ;;
      k) orphan_path="$OPTARG" ;;
      t) stop_wait="$OPTARG" ;;
      s) state_dir="$OPTARG" ;;
      m) min_interval="$OPTARG" ;;
      *) sed -n '2,15p' "$0"; exit 2 ;;
    esac
  done
  # Numbers reach bash arithmetic, which would evaluate an expression: digits only.
  for n in "$wait_sec" "$stop_wait" "$min_interval"; do
    [[ "$n" =~ ^[0-9]{1,6}$ ]] || { log "not a number: $n"; exit 2; }
  done
  [ -d "$(dirname "$lock")" ] || lock="/tmp/httpagent-watchdog.lock"

  # flock -n on an fd held for the whole run: a second run (a slow restart overlapping the next
  # minute) leaves at once instead of starting a second supervisord.
  exec 9>>"$lock"
  if ! flock -n 9; then
    log "another watchdog run holds $lock; leaving"
    exit 0
  fi

  supervisorctl -c "$conf" status >/dev/null 2>&1
  local rc=$?
  case "$rc" in
    0) exit 0 ;;                                          # reachable, all running
    3) start_fatal "$conf" "$state_dir" "$min_interval"; exit 0 ;; # reachable, something not running
    4) ;;                                                 # unreachable: restart supervisord below
    *) log "supervisorctl status exited $rc (not 'unreachable'); doing nothing"; exit 0 ;;
  esac

  log "supervisord unreachable (supervisorctl exit 4); restarting it"
  [ -n "$orphan_path" ] && stop_orphans "$orphan_path" "$stop_wait"
  if [ -n "$restart_cmd" ]; then
    # A configured command (e.g. "systemctl restart supervisor"), split on spaces, never eval'd.
    read -r -a cmd <<<"$restart_cmd"
    "${cmd[@]}"
  elif [ "$conf" = "/etc/supervisor/supervisord.conf" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl restart supervisor
  else
    # supervisord daemonizes itself and removes a stale socket left by a killed instance.
    supervisord -c "$conf"
  fi

  local i
  for ((i = 0; i < wait_sec * 2; i++)); do
    supervisorctl -c "$conf" status >/dev/null 2>&1
    if [ $? -ne 4 ]; then
      log "supervisord is reachable again"
      exit 0
    fi
    sleep 0.5
  done
  log "supervisord still unreachable after ${wait_sec}s"
  exit 1
}

main "$@"

#!/usr/bin/env bash
# httpagent watchdog: run from cron every minute. Asks supervisord for its status and restarts
# supervisord only when it cannot be reached (supervisorctl exit code 4). Stopped or FATAL programs
# (exit code 3) are supervisord's business and the FATAL listener's, not the watchdog's.
#
# Usage: watchdog.sh [-c SUPERVISORD_CONF] [-l LOCK_FILE] [-r "RESTART COMMAND"] [-w WAIT_SEC]
#                    [-k PROGRAM_PATH [-t STOP_WAIT_SEC]]
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

main() {
  local conf="/etc/supervisor/supervisord.conf"
  local lock="/run/lock/httpagent-watchdog.lock"
  local restart_cmd=""
  local wait_sec=15
  local orphan_path="" stop_wait=60
  while getopts "c:l:r:w:k:t:h" opt; do
    case "$opt" in
      c) conf="$OPTARG" ;;
      l) lock="$OPTARG" ;;
      r) restart_cmd="$OPTARG" ;;
      w) wait_sec="$OPTARG" ;;
      k) orphan_path="$OPTARG" ;;
      t) stop_wait="$OPTARG" ;;
      *) sed -n '2,12p' "$0"; exit 2 ;;
    esac
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
    0 | 3) exit 0 ;; # reachable: all running (0), or some stopped/FATAL (3)
    4) ;;            # unreachable: the only case we act on
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

#!/usr/bin/env bash
# httpagent installer for Debian/Ubuntu hosts. Everything lives in main(), called on the last line, so
# a partially downloaded script runs nothing. Run with --help for the options; README.md (Operations)
# says what it does, docs/security.md ("The installer") why it does it that way as root.
#
# The agent runs as root by default (as GitLab Runner's service does), so that it can start every task
# as the unprivileged task user httpagent-task, which this script creates and names in the config
# (taskUser): a task then cannot read the agent's credential or config. --user NAME runs the agent as
# NAME instead (its tasks then run as NAME too). Layout of a root install:
#   <prefix>/                 root   the prefix, releases/<name>, current -> releases/<name> and etc/
#   <prefix>/etc/httpagent.yaml root:<user> 0640 (0600 when the user is root)   the agent reads it, cannot change it
#   <prefix>/var/             <user> 0700   state, the agent's credential (the agent keeps it 0700)
#   <prefix>/log/             root:<user> 0750   supervisord and systemd open these files as root
#   <prefix>/app/             <user> only with self-update (--update-remote) and a user other than root:
#                                    the releases the agent builds and its own current link; root never
#                                    runs or writes there
# A service user other than root can change nothing that root executes or writes through, and
# install.sh never runs code as root that the service user could have changed. Without root everything
# belongs to the user running the script (--no-service).
#
# Values never become code: each is checked by its own rule before use, numbers are digits before they
# reach arithmetic, nothing goes through sed or eval, files are rendered by node from the environment
# into a private work directory and renamed into place from a temporary file made by mktemp in a
# directory that only root (or the installing user) can write. Secrets come from files or stdin, never
# from the command line (which every user sees in ps).
#
# The release layout (names, COMMIT and .release-ok, the staged npm ci/build/prune and self-test, the
# current switch) is src/bin/release-tool.js from this script's own checkout, the same code self-update
# uses (src/ops/release-layout.js, release-build.js); it is plain JavaScript, so node alone runs it.
# With --bundle the release comes verified out of a bundle (release-tool.js unpack-bundle) instead of
# a build: a bundle holds this script and its release tools, so the operator needs only the bundle.

usage() {
  cat <<'EOF'
Usage: install.sh [options]

  --prefix DIR               install prefix (default /opt/httpagent); an absolute path of letters,
                             digits and ._+-, not a system directory
  --source DIR               source checkout to install (default: the directory of this script)
  --bundle FILE|URL          install the release in this bundle instead (npm run bundle): verified,
                             unpacked and self-tested; no registry, no git, no build. FILE an absolute
                             or relative path of letters, digits and ._+-; URL http(s)://host[:port]/path
  --allowed-signers FILE     with --bundle: the bundle must be signed by a key in FILE (ssh allowed_signers)
  --user NAME                the user the agent runs as (default root, so that its tasks run as the
                             task user httpagent-task; another name is created when missing)
  --task-user NAME           the account the agent starts tasks as (default httpagent-task; created
                             when missing, with an empty home under /var/lib; written as taskUser)
  --init supervisor|systemd|auto   how the agent and monitor are kept running (default auto)
  --no-service               install into the prefix only: no user, no service, nothing outside it
  --controller-url URL       the controller (HTTPAGENT_CONTROLLER_URL)
  --enroll-token-file FILE   the enrollment token, read from FILE, or from stdin with "-" (or the
                             HTTPAGENT_ENROLL_TOKEN variable); needed once, while the agent has no
                             credential (var/credential). Written to var/enroll-token (0600, the
                             agent's), which the agent deletes once it has enrolled. Never an argument
  --agent-id ID              HTTPAGENT_AGENT_ID (default: the host name)
  --labels k=v,k=v           HTTPAGENT_LABELS
  --listen HOST:PORT         HTTPAGENT_LISTEN (default 0.0.0.0:9889)
  --tasks-dir DIR            HTTPAGENT_TASKS_DIR
  --smtp-url-file FILE       the monitor's SMTP URL (it may hold a password), read from FILE
  --alert-to a@x,b@y         HTTPAGENT_ALERT_TO
  --update-remote URL        self-update from this git remote (HTTPAGENT_UPDATE_REMOTE; off when unset)
  --update-branch NAME       HTTPAGENT_UPDATE_BRANCH (default main)
  --drain-grace-sec N        how long running jobs may finish on stop (HTTPAGENT_DRAIN_GRACE_SEC, default 30)
  --wait-sec N               how long to wait for the agent to answer /healthz (default 60)
  --supervisor-conf FILE     supervisord's config, for supervisorctl -c (default /etc/supervisor/supervisord.conf)
  --supervisor-socket-access give the service user's group supervisord's socket (a conf.d drop-in; done
                             without asking when install.sh installed supervisor itself)
  --system-root DIR          put system files (conf.d, cron.d, units, watchdog) under DIR; installs no
                             package and starts no system service (for tests)
  --dry-run                  say what would change, change nothing
  --uninstall                remove what the install manifest lists (logs are kept)
  --purge                    with --uninstall: remove logs and the users this script created too
  --fail-at-step N           for tests only: fail once step N is done, to prove the rollback
EOF
}

STEP=0
CHANGED=0
DRY=0
FAIL_AT=0
UNDO=()       # "kind<US>arg<US>arg" (US: the unit separator, no value holds it): undone in reverse when a step fails
BACKUPS=()    # hard links to files this run replaced: restored by a rollback, removed after success
SVC_BACKUPS=() # the same, in the service user's var/ (removed as that user)
MANIFEST=()   # what --uninstall may remove
# What a rollback does around the undo list: our programs are stopped before their files go back, then
# supervisord (or systemd) re-reads the files, and the programs that ran before this run run again.
SUP_TOUCHED=0 SUP_STARTED=0 SUP_WERE_RUNNING=() SYSTEMD_TOUCHED=0 SYSTEMD_WERE_ACTIVE=()

step() {
  fail_check
  STEP=$((STEP + 1))
  printf '[%d] %s\n' "$STEP" "$*"
}
fail_check() {
  if [ "$FAIL_AT" -gt 0 ] && [ "$STEP" -eq "$FAIL_AT" ]; then
    die "failing after step $STEP, as --fail-at-step asked (a test option)"
  fi
}
info() { printf '    %s\n' "$*"; }
note() { printf '    NOTE: %s\n' "$*"; }
# Returns failure instead of exiting: under `set -e` with the ERR trap, a failed step is rolled back.
die() { printf 'install.sh: %s\n' "$*" >&2; return 1; }
changed() { CHANGED=$((CHANGED + 1)); info "$*"; }
# Not a tab: read splits on whitespace IFS characters as one, and an empty argument would vanish.
push_undo() { local IFS=$'\x1f'; UNDO+=("$*"); }
usage_error() { printf 'install.sh: %s\n' "$*" >&2; exit 2; }
need_cmd() { command -v "$1" >/dev/null 2>&1; }
# A value shown in a message: quoted, so control characters cannot reach the terminal.
q() { printf '%q' "$1"; }

rollback() {
  local rc=$?
  # set -E hands the trap to subshells ($(...), ( )): only the main shell undoes; a subshell just fails,
  # and its caller's failure brings the main shell here.
  [ "$BASHPID" = "$$" ] || exit "$rc"
  trap - ERR
  set +e
  printf 'install.sh: step %d failed (exit %d); undoing what this run changed\n' "$STEP" "$rc" >&2
  # Quiet first: nothing of ours may run (and write its logs and state) while its files go back.
  if [ "$SUP_TOUCHED" = 1 ]; then supctl stop 'httpagent:*' httpagent-fatal >/dev/null 2>&1; fi
  if [ "$SYSTEMD_TOUCHED" = 1 ]; then systemctl stop httpagent-agent httpagent-monitor >/dev/null 2>&1; fi
  # An agent this run started may have enrolled: the controller then holds its credential and refuses a
  # second enrollment of this id (409 AGENT_ENROLLED) until the platform revokes it. Undoing the file
  # would strand the host, so a copy (read as the service user, who owns it) is put back below.
  local kept=""
  if [ "${ENROLLED:-1}" = 0 ] && [ -n "${WORK:-}" ] && [ -f "$PREFIX/var/credential" ]; then
    kept="$WORK/credential.kept"
    as_svc cat -- "$PREFIX/var/credential" >"$kept" 2>/dev/null && [ -s "$kept" ] || kept=""
  fi
  local i kind a b
  for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do
    IFS=$'\x1f' read -r kind a b <<<"${UNDO[$i]}"
    undo_one "$kind" "$a" "$b" || printf 'install.sh: could not undo: %s %s %s\n' "$kind" "$a" "$b" >&2
  done
  if [ "$SUP_STARTED" = 1 ]; then
    stop_supervisord # it was not running before this run
  elif [ "$SUP_TOUCHED" = 1 ]; then
    supctl reread >/dev/null 2>&1
    supctl update >/dev/null 2>&1
    [ ${#SUP_WERE_RUNNING[@]} -eq 0 ] || supctl start "${SUP_WERE_RUNNING[@]}" >/dev/null 2>&1
  fi
  if [ "$SYSTEMD_TOUCHED" = 1 ]; then
    systemctl daemon-reload
    [ ${#SYSTEMD_WERE_ACTIVE[@]} -eq 0 ] || systemctl start "${SYSTEMD_WERE_ACTIVE[@]}"
  fi
  if [ -n "$kept" ] && [ ! -e "$PREFIX/var/credential" ] && keep_credential "$kept"; then
    cleanup_work
    printf 'install.sh: rolled back, except %s: the agent enrolled as %s during this run, and the controller refuses a second enrollment of that id; the next run uses this credential (no enrollment token needed). To start over instead: revoke %s (DELETE /v1/agents/%s, the dashboard'"'"'s Remove), then delete %s\n' \
      "$PREFIX/var/credential" "$AGENT_ID" "$AGENT_ID" "$AGENT_ID" "$PREFIX" >&2
    exit 1
  fi
  cleanup_work
  printf 'install.sh: rolled back; the host is as it was before this run\n' >&2
  exit 1
}

# Puts back the credential an agent got during a run that is being rolled back: root's, in a var/ of
# root's (0700), so nobody else touches it until the next run gives both to the service user.
keep_credential() { # COPY
  local owner="${ROOT_OWN:-0:0}"
  [ -d "$PREFIX/var" ] || { mkdir -p -- "$PREFIX" && mkdir -m 0700 -- "$PREFIX/var"; } || return 1
  [ "$(stat -c '%u:%g %a' -- "$PREFIX/var")" = "$owner 700" ] || return 1
  install -m 0600 -o "${owner%:*}" -g "${owner#*:}" -- "$1" "$PREFIX/var/credential"
}

undo_one() {
  case "$1" in
    rm) rm -rf -- "$2" ;;
    rmdir) [ ! -d "$2" ] || rmdir -- "$2" ;;
    restore) mv -fT -- "$2" "$3" ;;
    owner) chown -h -- "$3" "$2" ;;
    mode) chmod -- "$3" "$2" ;;
    svc-rm) as_svc rm -rf -- "$2" ;;
    svc-relink) as_svc_relink "$3" "$2" ;;
    svc-restore) restore_as_svc "$2" ;;
    userdel) userdel -- "$2" ;;
    systemd-disable) systemctl disable --now "$2" ;;
    *) return 1 ;;
  esac
}

# The file the service user's own run replaced, back from its hard link; or gone when there was none.
restore_as_svc() {
  # shellcheck disable=SC2016 # literal script; the value arrives as a positional parameter
  as_svc sh -c 'if [ -f "$1.install-backup" ]; then mv -fT -- "$1.install-backup" "$1"; else rm -f -- "$1"; fi' sh "$1"
}

# Where the private work directory goes: $TMPDIR only when no other user could rename or replace entries
# in it (dir_ok), else /tmp (root's, sticky).
work_base() {
  local b="${TMPDIR:-/tmp}"
  dir_ok "$b" || b=/tmp
  printf '%s' "$b"
}

cleanup_work() { [ -n "${WORK:-}" ] && rm -rf -- "$WORK"; return 0; }
# The run succeeded: the copies kept for a rollback go.
drop_backups() {
  [ ${#BACKUPS[@]} -eq 0 ] || rm -f -- "${BACKUPS[@]}"
  [ ${#SVC_BACKUPS[@]} -eq 0 ] || as_svc rm -f -- "${SVC_BACKUPS[@]}"
  [ -z "${UNTRUSTED_ASIDE:-}" ] || rm -rf -- "$UNTRUSTED_ASIDE"
}

# --- checks of values, each by its own rule -------------------------------------------------------

is_uint() { [[ "$1" =~ ^[0-9]{1,6}$ ]]; }
check_uint() { # NAME VALUE MIN MAX
  is_uint "$2" || die "$1 must be a whole number (digits only), not $(q "$2")" || return 1
  [ "$((10#$2))" -ge "$3" ] && [ "$((10#$2))" -le "$4" ] || die "$1 must be between $3 and $4, not $2"
}

# An absolute path of safe characters: written into supervisord, systemd and cron files, where
# %, spaces, quotes, ; and # mean something. Prints the path with repeated and trailing slashes removed.
norm_path() { # NAME VALUE
  local p="$2"
  [[ "$p" = /* ]] || { die "$1 must be an absolute path, not $(q "$p")"; return 1; }
  while [[ "$p" == *//* ]]; do p=${p//\/\//\/}; done
  [ "$p" = / ] || p=${p%/}
  [[ "$p" =~ ^(/[A-Za-z0-9._+-]+)+$ ]] || [ "$p" = / ] ||
    { die "$1 may hold only letters, digits and ._+- between slashes, not $(q "$2")"; return 1; }
  case "/$p/" in */./* | */../*) die "$1 must not contain . or .. components: $(q "$2")"; return 1 ;; esac
  printf '%s' "$p"
}

# Directories an install must never be, nor remove: the top level, the usual system trees and homes.
SYSTEM_DIRS=(/usr/local /usr/bin /usr/sbin /usr/lib /usr/lib64 /usr/share /usr/include /usr/src /usr/libexec
  /usr/local/bin /usr/local/sbin /usr/local/lib /usr/local/share /usr/local/etc /usr/local/src
  /var/lib /var/log /var/cache /var/tmp /var/spool /var/mail /var/opt /var/run /var/lock /var/www /var/backups /var/local
  /etc/systemd /etc/supervisor /etc/cron.d /etc/default /etc/init.d /etc/ssh /etc/ssl)
check_prefix() { # PATH (normalized)
  local p="$1" d home
  [[ "$p" =~ ^/[^/]+/ ]] || { die "refusing prefix $p: a top-level directory (/, /etc, /opt, /home, ...) is never an install prefix"; return 1; }
  for d in "${SYSTEM_DIRS[@]}"; do
    [ "$p" = "$d" ] && { die "refusing prefix $p: it is a system directory"; return 1; }
  done
  case "$p/" in /proc/* | /sys/* | /dev/* | /run/*) die "refusing prefix $p: under a virtual file system"; return 1 ;; esac
  while IFS=: read -r _ _ _ _ _ home _; do
    [ -n "$home" ] && [ "$p" = "${home%/}" ] && { die "refusing prefix $p: it is a user's home directory"; return 1; }
  done < <(getent passwd 2>/dev/null || cat /etc/passwd)
  return 0
}

check_settings_values() {
  [[ "$SVC_USER" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "--user must be a user name ([a-z_][a-z0-9_-]*), not $(q "$SVC_USER")"
  [[ "$CONTROLLER_URL" =~ ^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+-]*)?$ ]] ||
    die "the controller URL must be http(s)://host[:port][/path] of plain characters, not $(q "$CONTROLLER_URL")"
  [[ "$AGENT_ID" =~ ^[A-Za-z0-9_.-]{1,128}$ ]] || die "the agent id must be 1-128 of [A-Za-z0-9_.-], not $(q "$AGENT_ID")"
  local label='[A-Za-z0-9_./-]{1,63}=[A-Za-z0-9_./:-]{0,128}'
  [ -z "$LABELS" ] || [[ "$LABELS" =~ ^$label(,$label)*$ ]] || die "--labels must be k=v,k=v (keys [A-Za-z0-9_./-], values [A-Za-z0-9_./:-]), not $(q "$LABELS")"
  [[ "$LISTEN" =~ ^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$ ]] || die "--listen must be HOST:PORT, not $(q "$LISTEN")"
  check_uint "the port in --listen" "${BASH_REMATCH[2]}" 1 65535
  local mail='[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+'
  [ -z "$ALERT_TO" ] || [[ "$ALERT_TO" =~ ^$mail(,$mail)*$ ]] || die "--alert-to must be addresses separated by commas, not $(q "$ALERT_TO")"
  if [ -n "$TASKS_DIR" ]; then TASKS_DIR=$(norm_path --tasks-dir "$TASKS_DIR"); fi
  if [ -n "$UPDATE_REMOTE" ]; then
    [[ "$UPDATE_REMOTE" =~ ^(https?|ssh|git|file)://[A-Za-z0-9._~%/:@+-]+$ ]] ||
      [[ "$UPDATE_REMOTE" =~ ^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/+-]+$ ]] ||
      [[ "$UPDATE_REMOTE" =~ ^(/[A-Za-z0-9._+-]+)+$ ]] ||
      die "--update-remote must be a git URL (https://, ssh://, git://, file://, user@host:path) or an absolute path, not $(q "$UPDATE_REMOTE")"
  fi
  [[ "$UPDATE_BRANCH" =~ ^[A-Za-z0-9_./-]{1,200}$ ]] && [[ "$UPDATE_BRANCH" != *..* ]] || die "--update-branch is not a branch name: $(q "$UPDATE_BRANCH")"
  check_uint --drain-grace-sec "$DRAIN_GRACE" 0 86400
  check_uint --wait-sec "$WAIT_SEC" 0 3600
  [[ "$TASK_USER" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && [ "$TASK_USER" != root ] || die "--task-user must be a user name ([a-z_][a-z0-9_-]*) other than root, not $(q "$TASK_USER")"
  [ "$SVC_USER" != "$TASK_USER" ] || die "--user must not be the task user $TASK_USER"
}

# One line from FILE (or stdin for "-"), for a secret: never an argument, never printed.
read_secret() { # NAME FILE → REPLY
  local name="$1" file="$2"
  REPLY=""
  if [ "$file" = - ]; then
    IFS= read -r REPLY || [ -n "$REPLY" ] || { die "$name: nothing on stdin"; return 1; }
  else
    [ -f "$file" ] && [ -r "$file" ] || { die "$name: cannot read $(q "$file")"; return 1; }
    IFS= read -r REPLY <"$file" || [ -n "$REPLY" ] || { die "$name: $(q "$file") is empty"; return 1; }
  fi
  REPLY=${REPLY%$'\r'}
}

# --- files and directories ------------------------------------------------------------------------

# Owned by root or by the installing user, and nobody else may add, rename or remove entries (group or
# other write), unless the sticky bit forbids renaming others' entries (/tmp).
dir_ok() {
  local d="$1" owner mode
  [ -d "$d" ] && [ ! -L "$d" ] || return 1
  read -r owner mode < <(stat -c '%u %a' -- "$d")
  [ "$owner" = 0 ] || [ "$owner" = "$MY_UID" ] || return 1
  mode=$((8#$mode))
  [ $((mode & 0022)) = 0 ] && return 0
  [ $((mode & 01000)) != 0 ] && [ "$owner" = 0 ]
}

# Every existing ancestor of PATH must be safe, or whoever can write one could swap what lies below.
check_ancestors() {
  local p="$1"
  while [ "$p" != / ]; do
    p=$(dirname -- "$p")
    [ -e "$p" ] || continue
    dir_ok "$p" || { die "$p can be changed by other users (owner $(stat -c %U -- "$p"), mode $(stat -c %a -- "$p")); install somewhere only root can write"; return 1; }
  done
}

# Creates a directory and each missing parent (root's, 0755), each undone by a rollback.
make_dir() {
  [ -d "$1" ] && return 0
  [ -e "$1" ] || [ -L "$1" ] && { die "$1 exists and is not a directory"; return 1; }
  make_dir "$(dirname -- "$1")"
  mkdir -m 0755 -- "$1"
  push_undo rmdir "$1"
}

# A directory with this owner and mode: made when missing, corrected (and the old values remembered for
# a rollback) when not.
ensure_dir() { # PATH UID:GID MODE
  local d="$1" owner="$2" mode="$3" have
  if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then die "$d exists and is not a directory (a link?)"; return 1; fi
  if [ ! -d "$d" ]; then
    if [ "$DRY" = 1 ]; then changed "would create $d"; return 0; fi
    make_dir "$d"
    # Made by this run, so everything in it is too (the logs supervisord opened, the credential): a
    # rollback removes it whole.
    push_undo rm "$d"
    chown -- "$owner" "$d"
    chmod -- "$mode" "$d"
    changed "created $d"
    return 0
  fi
  have=$(stat -c '%u:%g %a' -- "$d")
  [ "$have" = "$owner $mode" ] && return 0
  if [ "$DRY" = 1 ]; then changed "would set $d to $owner mode $mode (is ${have/ / mode })"; return 0; fi
  push_undo owner "$d" "${have% *}"
  push_undo mode "$d" "${have#* }"
  chown -- "$owner" "$d"
  chmod -- "$mode" "$d"
  changed "set $d to $owner mode $mode (was ${have/ / mode })"
}

# Installs the file SRC (rendered in the private work dir) as DEST with MODE and OWNER, unless DEST
# already is exactly that; FILE_CHANGED says which. Written to a mktemp file beside DEST and renamed over
# it; the old DEST is kept as a hard link (same inode: content, owner, mode, time) that a rollback
# renames back. Never call it as a condition: set -e is off inside those, and a failed write would pass.
install_file() { # DEST SRC MODE UID:GID WHAT
  local dest="$1" src="$2" mode="$3" owner="$4" what="$5" dir tmp
  dir=$(dirname -- "$dest")
  FILE_CHANGED=0
  if [ -f "$dest" ] && [ ! -L "$dest" ] && cmp -s -- "$src" "$dest" && [ "$(stat -c '%a %u:%g' -- "$dest")" = "$mode $owner" ]; then
    info "$what unchanged ($dest)"
    return 0
  fi
  FILE_CHANGED=1
  if [ "$DRY" = 1 ]; then changed "would write $what ($dest, mode $mode)"; return 0; fi
  make_dir "$dir"
  dir_ok "$dir" || die "$dir can be changed by other users; refusing to write $dest there"
  tmp=$(mktemp -- "$dir/.$(basename -- "$dest").XXXXXX")
  push_undo rm "$tmp"
  cat -- "$src" >"$tmp"
  chown -- "$owner" "$tmp"
  chmod -- "$mode" "$tmp"
  backup "$dest"
  mv -fT -- "$tmp" "$dest"
  changed "wrote $what ($dest, mode $mode)"
}

# Keeps PATH (a file or link) as a hard link for a rollback, or remembers that it did not exist.
backup() {
  local p="$1" bak
  if [ -e "$p" ] || [ -L "$p" ]; then
    bak=$(mktemp -u -- "$(dirname -- "$p")/.$(basename -- "$p").install-backup.XXXXXX")
    ln -P -- "$p" "$bak"
    push_undo restore "$bak" "$p"
    BACKUPS+=("$bak")
  else
    push_undo rm "$p"
  fi
}

# Renders a template (release or source supervisor/NAME) with the placeholders in T_* variables, by
# node: a placeholder without a value fails, and so does a value with a control character or % (which
# supervisord, systemd and cron all give a meaning).
# Puts `httpagent` on the PATH: /usr/local/bin for a root install with services, <prefix>/bin otherwise.
# A wrapper rather than a symlink to the .js file: it runs the root-owned current release with the Node
# found now, whatever `node` a later PATH would find, and needs no execute bit on the release's files.
install_cli() {
  local bin="$CLI_BIN"
  printf '#!/bin/bash\n# written by install.sh: the httpagent command of the install at %s\nexec %q %q "$@"\n' \
    "$PREFIX" "$NODE_BIN" "$PREFIX/current/dist/src/bin/httpagent.js" >"$WORK/cli"
  install_file "$bin" "$WORK/cli" 755 "$ROOT_OWN" "httpagent command"
  if [ "$bin" = "$PREFIX/bin/httpagent" ]; then MANIFEST+=("dir $PREFIX/bin"); fi
  MANIFEST+=("file $bin")
}

render_template() { # NAME OUT
  local tpl="$PREFIX/releases/$RELEASE_ID/supervisor/$1"
  [ -f "$tpl" ] && [ "$DRY" = 0 ] || tpl="$SOURCE/supervisor/$1"
  (
    export T_NODE="$NODE_BIN" T_PREFIX="$PREFIX" T_CODE_ROOT="$CODE_ROOT" T_CONFIG="$CONFIG" T_USER="$SVC_USER"
    export T_GROUP="$SVC_GROUP" T_USER_LINE="$USER_LINE" T_STOP_WAIT_SEC="$STOP_WAIT_SEC" T_LOG_DIR="$PREFIX/log"
    export T_HOME="$PREFIX/var" T_SUPERVISOR_CONF="$SUPERVISOR_CONF" T_WATCHDOG_LOG="$WATCHDOG_LOG"
    export T_LOCK_FILE=/run/lock/httpagent-watchdog.lock T_WATCHDOG="$WATCHDOG_BIN" T_WATCHDOG_STATE="$WATCHDOG_STATE"
    "$NODE_BIN" - "$tpl" >"$2" <<'EOF'
const { readFileSync } = await import('node:fs');
const text = readFileSync(process.argv[2], 'utf8');
const out = text.replace(/@([A-Z_]+)@/g, (_m, name) => {
  const v = process.env[`T_${name}`];
  if (v === undefined) throw new Error(`${process.argv[2]}: no value for @${name}@`);
  if (/[\x00-\x1f\x7f%]/.test(v)) throw new Error(`${process.argv[2]}: the value of @${name}@ holds a control character or %`);
  return v;
});
process.stdout.write(out);
EOF
  )
}

# The config file, by node from W_* variables: each value a JSON string, which YAML reads as a
# double-quoted scalar, so no value can add a key or a line.
render_config() { # OUT
  (
    export W_agentId="$AGENT_ID" W_controllerUrl="$CONTROLLER_URL" W_listen="$LISTEN" W_stateDir="$PREFIX/var"
    export W_drainGraceSec="$((10#$DRAIN_GRACE))" W_labels="$LABELS" W_tasksDir="$TASKS_DIR" W_smtpUrl="$SMTP_URL"
    export W_alertTo="$ALERT_TO" W_updateRemote="$UPDATE_REMOTE" W_updateBranch="${UPDATE_REMOTE:+$UPDATE_BRANCH}"
    export W_updatePrefix="${UPDATE_REMOTE:+$CODE_ROOT}" W_updateGuard="" W_supervisorConfig=""
    # Always named, enrolled or not, so that a later run writes the same file; the agent reads it only
    # while it has no credential and deletes it once it has one.
    export W_enrollTokenFile="$PREFIX/var/enroll-token" W_taskUser=""
    if [ "${TASK_USER_SET:-0}" = 1 ]; then W_taskUser=$TASK_USER; fi
    # systemd kills what the agent spawns when it exits; a path unit runs the guard instead.
    if [ -n "$UPDATE_REMOTE" ] && [ "$INIT_RESOLVED" = systemd ]; then W_updateGuard=external; fi
    # The monitor checks supervisord through the same config as everything else.
    if [ "$INIT_RESOLVED" = supervisor ]; then W_supervisorConfig="$SUPERVISOR_CONF"; fi
    "$NODE_BIN" - >"$1" <<'EOF'
const keys = ['agentId', 'controllerUrl', 'enrollTokenFile', 'listen', 'stateDir', 'drainGraceSec', 'labels', 'tasksDir', 'taskUser',
  'smtpUrl', 'alertTo', 'updateRemote', 'updateBranch', 'updatePrefix', 'updateGuard', 'supervisorConfig'];
const lines = ['# httpagent configuration, written by install.sh: re-run it to change a setting (it replaces this file).'];
for (const k of keys) {
  const v = process.env[`W_${k}`];
  if (v === undefined || v === '') continue;
  lines.push(`${k}: ${k === 'drainGraceSec' ? String(Number(v)) : JSON.stringify(v)}`);
}
process.stdout.write(lines.join('\n') + '\n');
EOF
  )
}

release_tool() { "$NODE_BIN" "$RELEASE_TOOL" "$@"; }
supctl() { supervisorctl -c "$SUPERVISOR_CONF" "$@"; }

# A command as the service user, with a clean environment (root's variables stay behind).
as_svc() {
  if [ "$ROOT_MODE" = 1 ]; then
    env -i PATH="$SAFE_PATH" HOME="$PREFIX/var" LC_ALL=C setpriv --reuid="$SVC_UID" --regid="$SVC_GID" --init-groups -- "$@"
  else
    "$@"
  fi
}
# Points LINK at TARGET as the service user: a new link renamed over the old one (atomic), as
# release-layout.js switchCurrent does it; an empty TARGET removes the link.
as_svc_relink() { # LINK TARGET
  if [ -z "$2" ]; then as_svc rm -f -- "$1"; return; fi
  # shellcheck disable=SC2016 # the script is literal; the values arrive as positional parameters
  as_svc sh -c 'tmp="$1.tmp-$$" && ln -s -- "$2" "$tmp" && mv -fT -- "$tmp" "$1"' sh "$1" "$2"
}

# --- steps ----------------------------------------------------------------------------------------

check_requirements() {
  step "checking requirements"
  local missing=()
  if ! need_cmd node; then
    missing+=("Node.js >= 20: curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs")
  elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    missing+=("Node.js >= 20 (found $(node -v)): curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs")
  fi
  # A bundle is built already: npm is needed only to build a release here.
  if [ -z "$BUNDLE" ]; then need_cmd npm || missing+=("npm: apt-get install -y npm (or Node.js from NodeSource, which includes it)"); fi
  [ -f "$RELEASE_TOOL" ] || missing+=("$RELEASE_TOOL: run install.sh from the httpagent checkout it came with")
  need_cmd tar || missing+=("tar: apt-get install -y tar")
  need_cmd mktemp && need_cmd stat && need_cmd cmp || missing+=("coreutils and diffutils: apt-get install -y coreutils diffutils")
  if [ "$MY_UID" = 0 ] && [ "$NO_SERVICE" = 0 ]; then need_cmd setpriv || missing+=("setpriv: apt-get install -y util-linux"); fi
  if [ "$NO_SERVICE" = 0 ]; then
    case "$INIT_RESOLVED" in
      supervisor)
        if ! need_cmd supervisorctl && ! can_install_packages; then missing+=("supervisor: apt-get install -y supervisor"); fi
        need_cmd flock || missing+=("flock: apt-get install -y util-linux")
        ;;
      systemd) need_cmd systemctl || missing+=("systemd (systemctl): use --init supervisor on hosts without systemd") ;;
    esac
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    printf 'install.sh: missing requirements:\n' >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
  fi
  if [ -n "$BUNDLE" ]; then info "node $(node -v)"; else info "node $(node -v), npm $(npm -v)"; fi
}

# Packages are installed only as root on the real system (never with --system-root) and never in a dry run.
can_install_packages() { [ "$MY_UID" = 0 ] && [ -z "$SYSROOT" ] && need_cmd apt-get; }

check_settings() {
  step "checking settings"
  check_settings_values
  if [ -z "$BUNDLE" ]; then
    [ -f "$SOURCE/package.json" ] || die "$SOURCE is not an httpagent source checkout (no package.json); use --source DIR"
  fi
  if [ -n "$SMTP_URL_FILE" ]; then
    [ "$SMTP_URL_FILE" != - ] || [ "$ENROLL_TOKEN_FILE" != - ] || die "only one of --enroll-token-file and --smtp-url-file can be - (stdin)"
    read_secret --smtp-url-file "$SMTP_URL_FILE"
    SMTP_URL=$REPLY
    [[ "$SMTP_URL" =~ ^smtps?://[!-~]{1,2000}$ ]] || die "--smtp-url-file must hold one smtp:// or smtps:// URL without spaces"
  fi
  # The credential is the agent's: enrollment is needed once, and the token only for it.
  ENROLLED=0
  [ -e "$PREFIX/var/credential" ] && ENROLLED=1
  if [ "$ENROLLED" = 1 ]; then
    ENROLL_TOKEN=""
  else
    if [ -n "$ENROLL_TOKEN_FILE" ]; then
      read_secret --enroll-token-file "$ENROLL_TOKEN_FILE"
      ENROLL_TOKEN=$REPLY
    fi
    if [ "$NO_SERVICE" = 0 ]; then
      [ -n "$ENROLL_TOKEN" ] || die "this host has not enrolled yet: give an enrollment token of the controller with --enroll-token-file FILE (- for stdin) or HTTPAGENT_ENROLL_TOKEN"
    fi
    # The agent's own rule for a token (src/agent/identity/agent-identity.ts).
    [ -z "$ENROLL_TOKEN" ] || [[ "$ENROLL_TOKEN" =~ ^[!-~]{16,512}$ ]] || die "the enrollment token must be 16-512 printable characters without spaces"
  fi
  if [ -n "$BUNDLE" ]; then describe_bundle; else describe_release; fi
  local token="not needed (enrolled)"
  [ -z "$ENROLL_TOKEN" ] || token="set (not shown)"
  info "controller $CONTROLLER_URL, agent id $AGENT_ID, release $RELEASE_ID, enrollment token: $token"
}

# The release install.sh would install from $SOURCE, as release-tool names it: a git checkout's HEAD
# commit (12 characters), else the version and a hash of the files. Reads only; a dry run uses it too.
describe_release() {
  local line
  line=$(release_tool describe --source "$SOURCE" --prefix "$PREFIX" ${NO_GIT:+--no-git})
  IFS=$'\t' read -r RELEASE_ID _ RELEASE_BUILT _ <<<"$line"
  [[ "$RELEASE_ID" =~ ^[A-Za-z0-9._+-]{1,80}$ ]] || die "could not name the release of $SOURCE (got $(q "$RELEASE_ID"))"
  RELEASE_DIR="$PREFIX/releases/$RELEASE_ID"
}

# The release in the bundle, named as unpack-bundle names it (the commit's first 12 characters). A file
# is verified whole here (manifest, signature, architecture), so a refused bundle changes nothing; a URL
# is downloaded and verified by the release step, and named then.
describe_bundle() {
  local line commit
  if [[ "$BUNDLE" =~ ^https?:// ]]; then
    RELEASE_ID="(from the bundle)" RELEASE_DIR=""
    return 0
  fi
  line=$(release_tool verify-bundle --bundle "$BUNDLE" ${ALLOWED_SIGNERS:+--allowed-signers "$ALLOWED_SIGNERS"}) ||
    die "the bundle $(q "$BUNDLE") was refused (its code is above)"
  IFS=$'\t' read -r _ commit _ <<<"$line"
  [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || die "could not read the commit of the bundle $(q "$BUNDLE") (got $(q "$commit"))"
  RELEASE_ID=${commit:0:12}
  RELEASE_DIR="$PREFIX/releases/$RELEASE_ID"
  info "bundle $BUNDLE: verified${ALLOWED_SIGNERS:+ (signed by a key in $ALLOWED_SIGNERS)}"
}

ensure_user() {
  step "service user"
  if [ "$NO_SERVICE" = 1 ] || [ "$MY_UID" != 0 ]; then
    info "running as $(id -un); files stay owned by it"
  elif id -u "$SVC_USER" >/dev/null 2>&1; then
    info "user $SVC_USER exists"
  elif [ "$DRY" = 1 ]; then
    changed "would create system user $SVC_USER"
    SVC_UID="(new)" SVC_GID="(new)" SVC_GROUP=$SVC_USER ROOT_MODE=1
    return 0
  else
    useradd --system --user-group --home-dir "$PREFIX/var" --no-create-home --shell /usr/sbin/nologin -- "$SVC_USER"
    push_undo userdel "$SVC_USER"
    CREATED_USER=1
    changed "created system user $SVC_USER"
  fi
  SVC_UID=$(id -u "$SVC_USER")
  SVC_GID=$(id -g "$SVC_USER")
  SVC_GROUP=$(id -gn "$SVC_USER")
  ROOT_MODE=0
  if [ "$MY_UID" = 0 ] && [ "$NO_SERVICE" = 0 ] && [ "$SVC_UID" != 0 ]; then ROOT_MODE=1; fi
}

# The account the agent starts its tasks as (issue 10): no login shell, no password, an empty home of its
# own. Made only by a root install with services; an existing one is kept (and never removed, since
# this script did not make it). It must not be root: the agent refuses that too.
ensure_task_user() {
  step "task user $TASK_USER"
  TASK_USER_SET=0
  if [ "$NO_SERVICE" = 1 ] || [ "$MY_UID" != 0 ]; then info "not needed (no service; tasks run as $(id -un))"; return 0; fi
  TASK_USER_SET=1
  if id -u "$TASK_USER" >/dev/null 2>&1; then
    [ "$(id -u "$TASK_USER")" != 0 ] || die "the task user $TASK_USER has uid 0; tasks must run as an account that is not root"
    info "user $TASK_USER exists"
    return 0
  fi
  if [ "$DRY" = 1 ]; then changed "would create system user $TASK_USER (home $TASK_HOME, no login shell)"; return 0; fi
  [ ! -e "$TASK_HOME" ] && [ ! -L "$TASK_HOME" ] || die "$TASK_HOME exists but user $TASK_USER does not: remove it or create the user yourself"
  useradd --system --user-group --home-dir "$TASK_HOME" --no-create-home --shell /usr/sbin/nologin -- "$TASK_USER"
  push_undo userdel "$TASK_USER"
  CREATED_TASK_USER=1
  make_dir "$(dirname -- "$TASK_HOME")"
  mkdir -m 0750 -- "$TASK_HOME"
  push_undo rm "$TASK_HOME"
  chown -- "$TASK_USER:" "$TASK_HOME"
  changed "created system user $TASK_USER (home $TASK_HOME, no login shell): the agent runs its tasks as it"
}

# Who owns what (see the head of this file).
layout_owners() {
  if [ "$ROOT_MODE" = 1 ]; then
    ROOT_OWN="0:0" SVC_OWN="$SVC_UID:$SVC_GID" LOG_OWN="0:$SVC_GID" CONFIG_OWN="0:$SVC_GID" CONFIG_MODE=640
  else
    local me
    me="$MY_UID:$(id -g)"
    ROOT_OWN=$me SVC_OWN=$me LOG_OWN=$me CONFIG_OWN=$me CONFIG_MODE=600
  fi
}

prepare_prefix() {
  step "prefix $PREFIX"
  check_ancestors "$PREFIX"
  layout_owners
  ensure_dir "$PREFIX" "$ROOT_OWN" 755
  ensure_dir "$PREFIX/etc" "$ROOT_OWN" 755
  ensure_dir "$PREFIX/releases" "$ROOT_OWN" 755
  give_kept_credential
  ensure_dir "$PREFIX/var" "$SVC_OWN" 700
  ensure_dir "$PREFIX/log" "$LOG_OWN" 750
  if [ "$CODE_ROOT" != "$PREFIX" ]; then ensure_dir "$CODE_ROOT" "$SVC_OWN" 755; fi
  if [ -L "$PREFIX/current" ] && [ "$(stat -c '%u:%g' -- "$PREFIX/current")" != "$ROOT_OWN" ]; then
    if [ "$DRY" = 1 ]; then changed "would give $PREFIX/current to $ROOT_OWN"; else
      push_undo owner "$PREFIX/current" "$(stat -c '%u:%g' -- "$PREFIX/current")"
      chown -h -- "$ROOT_OWN" "$PREFIX/current"
      changed "gave $PREFIX/current to $ROOT_OWN"
    fi
  fi
  # supervisord and systemd open the log files as root: a link left in log/ (by an earlier layout, in
  # which the service user owned it) would be followed. Moved aside, restored by a rollback.
  local l
  for l in "$PREFIX"/log/* "$PREFIX"/log/.[!.]*; do
    [ -L "$l" ] || continue
    if [ "$DRY" = 1 ]; then changed "would remove the link $l"; continue; fi
    backup "$l"
    rm -f -- "$l"
    changed "removed the link $l (log files are never links)"
  done
  MANIFEST+=("dir $PREFIX/releases" "link $PREFIX/current" "dir $PREFIX/etc" "dir $PREFIX/var" "log $PREFIX/log")
  [ "$CODE_ROOT" != "$PREFIX" ] && MANIFEST+=("dir $CODE_ROOT")
  return 0
}

# A credential a rollback kept (keep_credential) is root's, in a var/ of root's: it goes to the service
# user, who reads and replaces it, before var/ does (so until then nobody else can swap it).
give_kept_credential() {
  local cred="$PREFIX/var/credential"
  [ "$SVC_OWN" != "$ROOT_OWN" ] && [ -d "$PREFIX/var" ] && [ ! -L "$PREFIX/var" ] || return 0
  [ "$(stat -c '%u:%g' -- "$PREFIX/var")" = "$ROOT_OWN" ] && [ -f "$cred" ] && [ ! -L "$cred" ] || return 0
  [ "$(stat -c '%u:%g' -- "$cred")" = "$ROOT_OWN" ] || return 0
  if [ "$DRY" = 1 ]; then changed "would give $cred (kept by a rollback) to $SVC_USER"; return 0; fi
  push_undo owner "$cred" "$ROOT_OWN"
  chown -h -- "$SVC_OWN" "$cred"
  changed "gave $cred (kept by a rollback) to $SVC_USER"
}

write_config() {
  step "configuration"
  render_config "$WORK/config"
  # Written before the release is built: its self-test checks this file.
  install_file "$CONFIG" "$WORK/config" "$CONFIG_MODE" "$CONFIG_OWN" "config"
  CONFIG_CHANGED=$FILE_CHANGED
  write_enroll_token
}

# The enrollment token goes where the agent looks for it (enrollTokenFile, in its own state dir, so it
# can delete the file once enrolled: the token would enroll any id). Written by the service user itself
# (root writes nothing in a directory that user owns) from stdin: never a command line, never a file of
# root's. The token file it replaces, if any, is kept as a hard link until the run succeeds.
write_enroll_token() {
  [ -n "$ENROLL_TOKEN" ] || return 0
  local f="$PREFIX/var/enroll-token"
  if [ -d "$PREFIX/var" ] && printf '%s\n' "$ENROLL_TOKEN" | as_svc cmp -s -- - "$f" 2>/dev/null; then info "enrollment token unchanged ($f)"; return 0; fi
  if [ "$DRY" = 1 ]; then changed "would write the enrollment token to $f (mode 0600; the agent deletes it once enrolled)"; return 0; fi
  push_undo svc-restore "$f"
  # shellcheck disable=SC2016 # literal script; the values arrive as positional parameters and stdin
  printf '%s\n' "$ENROLL_TOKEN" | as_svc sh -c 'umask 077 && t=$(mktemp -- "$1.XXXXXX") && cat >"$t" &&
    { [ ! -f "$1" ] || [ -L "$1" ] || ln -f -- "$1" "$1.install-backup"; } && mv -fT -- "$t" "$1"' sh "$f"
  SVC_BACKUPS+=("$f.install-backup")
  changed "wrote the enrollment token to $f (mode 0600, not shown; the agent deletes it once enrolled)"
}

# A release root may run or read: owned by root (or the installing user) throughout, nothing in it
# writable by group or others. One built under an earlier layout (the service user's) is built again.
release_trusted() {
  local d="$1" bad
  [ -d "$d" ] && [ ! -L "$d" ] || return 1
  bad=$(find "$d" \( ! -uid "$MY_UID" -o -perm -0002 -o -perm -0020 \) ! -type l -print -quit 2>/dev/null)
  [ -z "$bad" ] || { info "not built by $(id -un) alone ($bad); building it again"; return 1; }
}

# The release-tool option that runs the self-test as the service user (root installs only).
self_test_args() {
  SELF_TEST_ARGS=()
  if [ "$ROOT_MODE" = 1 ]; then SELF_TEST_ARGS=(--self-test-as "$SVC_UID:$SVC_GID:$PREFIX/var"); fi
}

build_release() {
  [ -z "$BUNDLE" ] || { bundle_release; return; }
  step "release $RELEASE_ID"
  if [ "$RELEASE_BUILT" = yes ] && ! release_trusted "$RELEASE_DIR"; then RELEASE_BUILT=untrusted; fi
  if [ "$RELEASE_BUILT" != yes ]; then
    if [ "$DRY" = 1 ]; then changed "would build $RELEASE_DIR (npm ci, build, prune, self-test as $SVC_USER)"; return 0; fi
    if [ "$RELEASE_BUILT" = untrusted ]; then
      local aside
      aside=$(mktemp -u -- "$PREFIX/releases/.untrusted-$RELEASE_ID.XXXXXX")
      mv -T -- "$RELEASE_DIR" "$aside"
      push_undo restore "$aside" "$RELEASE_DIR"
      UNTRUSTED_ASIDE=$aside
    fi
    info "building from $SOURCE (staged; renamed into place once its self-test passed)"
    push_undo rm "$RELEASE_DIR"
    push_undo rm "$PREFIX/releases/.staging-$RELEASE_ID"
    self_test_args
    release_tool build --source "$SOURCE" --prefix "$PREFIX" --config "$CONFIG" --expect "$RELEASE_ID" ${NO_GIT:+--no-git} "${SELF_TEST_ARGS[@]}" ||
      die "the release was not built (the output above says why)"
    changed "built $RELEASE_DIR"
    return 0
  fi
  info "already built: $RELEASE_DIR"
  [ "$DRY" = 1 ] && return 0
  # Built by an earlier run, but the configuration may be new: the release must accept it before it
  # becomes (or stays) current.
  self_test_args
  release_tool check --release "$RELEASE_DIR" --config "$CONFIG" "${SELF_TEST_ARGS[@]}" ||
    die "the release's self-test rejected the configuration (run: httpagent agent --self-test --config $CONFIG)"
}

# The release from --bundle: release-tool verifies it again as it unpacks (the file may have changed
# since check_settings) and self-tests it; a release of that commit already whole on disk is kept. A
# download goes to this run's private work directory.
bundle_release() {
  step "release from the bundle $BUNDLE"
  if [ "$DRY" = 1 ]; then
    if [ -n "$RELEASE_DIR" ]; then changed "would unpack and self-test the bundle as $RELEASE_DIR"; else changed "would download, verify, unpack and self-test the bundle under $PREFIX/releases"; fi
    return 0
  fi
  local line reused expect=$RELEASE_ID
  line=$(TMPDIR="$WORK" release_tool unpack-bundle --bundle "$BUNDLE" --prefix "$PREFIX" --config "$CONFIG" ${ALLOWED_SIGNERS:+--allowed-signers "$ALLOWED_SIGNERS"}) ||
    die "the bundle was refused or its release failed its self-test (the output above says why)"
  IFS=$'\t' read -r RELEASE_ID _ _ reused <<<"$line"
  [[ "$RELEASE_ID" =~ ^[0-9a-f]{12}$ ]] || die "unpack-bundle named no release (got $(q "$RELEASE_ID"))"
  RELEASE_DIR="$PREFIX/releases/$RELEASE_ID"
  if [[ "$BUNDLE" != http* ]] && [ "$RELEASE_ID" != "$expect" ]; then die "the bundle changed while installing (it was $expect, now $RELEASE_ID)"; fi
  if [ "$reused" = yes ]; then
    release_trusted "$RELEASE_DIR" || die "$RELEASE_DIR is not root's alone (an earlier layout): remove it and run install.sh again"
    info "already installed: $RELEASE_DIR (the bundle was verified again)"
  else
    push_undo rm "$RELEASE_DIR"
    changed "unpacked $RELEASE_DIR from the bundle (verified, self-tested)"
  fi
  # The self-test as the service user (unpack-bundle ran it as this user), and for a kept release
  # against this run's configuration.
  self_test_args
  if [ "$reused" = yes ] || [ "$ROOT_MODE" = 1 ]; then
    release_tool check --release "$RELEASE_DIR" --config "$CONFIG" "${SELF_TEST_ARGS[@]}" ||
      die "the release's self-test rejected the configuration (run: httpagent agent --self-test --config $CONFIG)"
  fi
}

release_entry() { printf '%s/dist/src/bin/httpagent.js' "$1"; }

switch_current() {
  step "current release"
  RELEASE_SWITCHED=0
  local was=""
  [ -L "$PREFIX/current" ] && was=$(readlink -- "$PREFIX/current")
  if [ "$was" = "releases/$RELEASE_ID" ]; then
    info "current is releases/$RELEASE_ID"
  elif [ "$DRY" = 1 ]; then
    changed "would point current at releases/$RELEASE_ID"
    RELEASE_SWITCHED=1
  else
    backup "$PREFIX/current"
    release_tool switch --prefix "$PREFIX" --to "$RELEASE_ID"
    RELEASE_SWITCHED=1
    changed "current -> releases/$RELEASE_ID${was:+ (was $was)}"
  fi
  [ "$CODE_ROOT" = "$PREFIX" ] && return 0
  # Self-update on a root install: the agent runs (and replaces) its own copy under app/, which the
  # service user makes from root's build; root neither writes nor runs anything there.
  local own="$CODE_ROOT/releases/$RELEASE_ID" have=""
  [ -L "$CODE_ROOT/current" ] && have=$(readlink -- "$CODE_ROOT/current")
  if [ "$have" = "releases/$RELEASE_ID" ] && [ -f "$own/.release-ok" ]; then info "$CODE_ROOT/current is releases/$RELEASE_ID"; return 0; fi
  if [ "$DRY" = 1 ]; then changed "would copy the release to $own and point $CODE_ROOT/current at it (as $SVC_USER)"; RELEASE_SWITCHED=1; return 0; fi
  if [ ! -f "$own/.release-ok" ]; then
    push_undo svc-rm "$own"
    # shellcheck disable=SC2016 # literal script; values arrive as positional parameters
    as_svc sh -c 'mkdir -p -- "$2/releases" && rm -rf -- "$2/releases/.copy-$3" && cp -RP -- "$1" "$2/releases/.copy-$3" &&
      rm -rf -- "$2/releases/$3" && mv -T -- "$2/releases/.copy-$3" "$2/releases/$3"' sh "$RELEASE_DIR" "$CODE_ROOT" "$RELEASE_ID"
  fi
  push_undo svc-relink "$have" "$CODE_ROOT/current"
  as_svc_relink "$CODE_ROOT/current" "releases/$RELEASE_ID"
  RELEASE_SWITCHED=1
  changed "$CODE_ROOT/current -> releases/$RELEASE_ID (the service user's copy, for self-update)"
}

install_services() {
  step "services ($INIT_RESOLVED)"
  if [ "$NO_SERVICE" = 1 ]; then
    info "skipped (--no-service): start it with: $NODE_BIN $(release_entry "$CODE_ROOT/current") agent --config $CONFIG"
    return 0
  fi
  if [ "$INIT_RESOLVED" = supervisor ]; then supervisor_services; else systemd_services; fi
}

supervisor_services() {
  local svc_changed=0 socket_file="$SUP_CONFD/httpagent-socket.conf"
  if ! need_cmd supervisorctl; then
    if [ "$DRY" = 1 ]; then changed "would install supervisor (apt-get install -y supervisor)"; else
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q supervisor >/dev/null || die "apt-get install supervisor failed"
      SUP_INSTALLED=1
      changed "installed supervisor (apt-get; a rollback leaves the package)"
    fi
  fi
  local running=1
  supervisord_reachable || running=0
  if [ "$DRY" = 0 ]; then
    SUP_TOUCHED=1
    # Which of our programs run now: a rollback runs these again, and only these.
    [ "$running" = 0 ] || mapfile -t SUP_WERE_RUNNING < <(supctl status 2>/dev/null | awk '$1 ~ /^httpagent[A-Za-z0-9_.:-]*$/ && ($2 == "RUNNING" || $2 == "STARTING") { print $1 }')
  fi
  if [ "$SUP_INSTALLED" = 1 ] && [ "$running" = 1 ]; then
    # The package started supervisord with its stock socket; it runs nothing else yet, so it is
    # stopped here and started below with the socket drop-in in place.
    stop_supervisord
    running=0
  fi

  # Socket access for the service user: the monitor's check and the update guard's start go through it.
  if [ "$SOCKET_ACCESS" = 1 ] || [ "$SUP_INSTALLED" = 1 ] || [ -f "$socket_file" ]; then
    render_template httpagent-socket.conf.in "$WORK/socket.conf"
    install_file "$socket_file" "$WORK/socket.conf" 644 0:0 "supervisord socket access for group $SVC_GROUP"
    if [ "$FILE_CHANGED" = 1 ] && [ "$running" = 1 ]; then
      note "supervisord reads $socket_file when it restarts (supervisorctl reload restarts every program it runs)"
    fi
    MANIFEST+=("file $socket_file")
  fi

  render_template httpagent.conf.in "$WORK/programs.conf"
  install_file "$SUP_PROGRAMS" "$WORK/programs.conf" 644 0:0 "supervisor programs"
  svc_changed=$FILE_CHANGED
  MANIFEST+=("file $SUP_PROGRAMS")
  [ "$DRY" = 1 ] && { [ "$running" = 1 ] || changed "would start supervisord"; return 0; }

  if [ "$running" = 0 ]; then
    SUP_STARTED=1
    start_supervisord
    changed "started supervisord (it was not running)"
  else
    sup_run reread
    sup_run update
    if [ "$svc_changed" = 0 ] && { [ "$RELEASE_SWITCHED" = 1 ] || [ "$CONFIG_CHANGED" = 1 ]; }; then
      sup_run restart 'httpagent:*'
      changed "restarted httpagent:* on the new release/config"
    fi
  fi
  check_socket_access
}

# supervisorctl with its output shown when it fails: "step 9 failed" alone helps nobody.
sup_run() {
  local out
  out=$(supctl "$@" 2>&1) || { printf '%s\n' "$out" >&2; die "supervisorctl $* failed (config $SUPERVISOR_CONF)"; return 1; }
}

supervisord_reachable() {
  need_cmd supervisorctl || return 1
  local rc=0
  supctl status >/dev/null 2>&1 || rc=$?
  [ "$rc" != 4 ] && [ "$rc" != 2 ]
}

start_supervisord() {
  if [ -z "$SYSROOT" ] && [ "$SUPERVISOR_CONF" = /etc/supervisor/supervisord.conf ] && [ -d /run/systemd/system ]; then
    systemctl start supervisor
  elif [ -z "$SYSROOT" ] && [ "$SUPERVISOR_CONF" = /etc/supervisor/supervisord.conf ] && need_cmd service; then
    service supervisor start >/dev/null
  else
    supervisord -c "$SUPERVISOR_CONF"
  fi
  local i
  for ((i = 0; i < 60; i++)); do
    supervisord_reachable && return 0
    sleep 0.25
  done
  die "supervisord did not come up with $SUPERVISOR_CONF (see its log file)"
}

stop_supervisord() {
  if [ -z "$SYSROOT" ] && [ "$SUPERVISOR_CONF" = /etc/supervisor/supervisord.conf ] && [ -d /run/systemd/system ]; then
    systemctl stop supervisor
  else
    supctl shutdown >/dev/null 2>&1
    local i
    for ((i = 0; i < 120; i++)); do supervisord_reachable || return 0; sleep 0.25; done
  fi
}

# Whether the service user can use supervisord's socket; when not, the fix, once, here.
check_socket_access() {
  [ "$ROOT_MODE" = 1 ] || return 0
  local out
  out=$(as_svc supervisorctl -c "$SUPERVISOR_CONF" status 2>&1) && return 0
  case "$out" in
    *PermissionError* | *"Permission denied"*)
      note "$SVC_USER cannot use supervisord's socket (Permission denied): the monitor reports this once as a setup problem, and the update guard cannot start a FATAL agent after a rollback (the watchdog still does, within 10 minutes)."
      note "fix: re-run with --supervisor-socket-access, or add to supervisord's config: [unix_http_server] chown=root:$SVC_GROUP chmod=0770, then restart supervisord"
      ;;
  esac
  return 0
}

systemd_services() {
  local svc_changed=0 u
  for u in httpagent-agent.service httpagent-monitor.service httpagent-update-guard.service httpagent-update-guard.path; do
    render_template "$u.in" "$WORK/$u"
    [ -e "$UNIT_DIR/$u" ] || UNITS_NEW+=("$u")
    install_file "$UNIT_DIR/$u" "$WORK/$u" 644 0:0 "unit $u"
    [ "$FILE_CHANGED" = 0 ] || svc_changed=1
    MANIFEST+=("file $UNIT_DIR/$u")
  done
  [ "$DRY" = 1 ] && return 0
  if [ -n "$SYSROOT" ]; then info "systemctl skipped (--system-root)"; return 0; fi
  SYSTEMD_TOUCHED=1
  for u in httpagent-agent httpagent-monitor; do systemctl is-active --quiet "$u" && SYSTEMD_WERE_ACTIVE+=("$u"); done
  systemctl daemon-reload
  for u in "${UNITS_NEW[@]}"; do [[ "$u" == *.service && "$u" != *guard* || "$u" == *.path ]] && push_undo systemd-disable "$u"; done
  systemctl enable --now httpagent-agent httpagent-monitor httpagent-update-guard.path >/dev/null 2>&1 || die "systemctl enable --now failed (systemctl status httpagent-agent says why)"
  if [ "$svc_changed" = 1 ] || [ "$RELEASE_SWITCHED" = 1 ] || [ "$CONFIG_CHANGED" = 1 ]; then
    systemctl restart httpagent-agent httpagent-monitor
    changed "restarted httpagent-agent and httpagent-monitor"
  fi
}

install_watchdog() {
  step "watchdog"
  if [ "$NO_SERVICE" = 1 ] || [ "$INIT_RESOLVED" != supervisor ]; then info "not needed (${INIT_RESOLVED})"; return 0; fi
  local src
  src="$PREFIX/releases/$RELEASE_ID/supervisor/watchdog.sh"
  [ -f "$src" ] && [ "$DRY" = 0 ] || src="$SOURCE/supervisor/watchdog.sh"
  # cron runs the watchdog as root: it gets its own root-owned copy, outside the prefix.
  install_file "$WATCHDOG_BIN" "$src" 755 0:0 "watchdog"
  render_template httpagent-watchdog.cron.in "$WORK/cron"
  install_file "$CRON_FILE" "$WORK/cron" 644 0:0 "watchdog cron entry"
  ensure_dir "$WATCHDOG_STATE" 0:0 700
  MANIFEST+=("file $WATCHDOG_BIN" "file $CRON_FILE" "dir $WATCHDOG_STATE" "log $WATCHDOG_LOG")
  check_cron
}

# The watchdog is a cron job: without a running cron it never runs, and that must be said plainly.
check_cron() {
  if ! need_cmd cron && ! need_cmd crond; then
    if [ "$DRY" = 0 ] && can_install_packages; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q cron >/dev/null && changed "installed cron (apt-get; a rollback leaves the package)" && return 0
    fi
    note "cron is not installed: the watchdog will never run, so a dead supervisord or a FATAL agent stays down. Install it: apt-get install -y cron"
    return 0
  fi
  if [ -d /run/systemd/system ] && need_cmd systemctl; then
    systemctl is-active --quiet cron 2>/dev/null && return 0
    if [ -z "$SYSROOT" ] && [ "$DRY" = 0 ] && systemctl enable --now cron >/dev/null 2>&1; then changed "started cron"; return 0; fi
  elif [ -r /run/crond.pid ] && kill -0 "$(cat /run/crond.pid 2>/dev/null)" 2>/dev/null; then
    return 0
  fi
  note "cron does not seem to run here: the watchdog runs only while it does (systemctl enable --now cron, or service cron start)"
}

write_manifest() {
  step "install manifest"
  local m="$PREFIX/.install-manifest" e
  # Entries of earlier runs stay (a user created then is still ours to remove), once checked.
  if [ -f "$m" ] && [ ! -L "$m" ]; then
    while IFS= read -r e; do
      case "$e" in '#'* | '' | "prefix "*) continue ;; esac
      manifest_entry_ok "$e" && MANIFEST+=("$e")
    done <"$m"
  fi
  [ "$CREATED_USER" = 1 ] && MANIFEST+=("user $SVC_USER")
  [ "$CREATED_TASK_USER" = 1 ] && MANIFEST+=("taskuser $TASK_USER $TASK_HOME")
  {
    printf '%s\n' "# written by install.sh: what --uninstall removes, and nothing else" "prefix $PREFIX"
    printf '%s\n' "${MANIFEST[@]}" | awk '!seen[$0]++'
  } >"$WORK/manifest"
  install_file "$m" "$WORK/manifest" 644 "$ROOT_OWN" "install manifest" >/dev/null
}

# Paths install.sh makes: inside the prefix, or one of the system files it knows (under --system-root).
manifest_entry_ok() {
  local kind="${1%% *}" arg="${1#* }" p
  case "$kind" in
    user) [[ "$arg" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && [ "$arg" != root ] ;;
    # Only the one task user this script makes, with the home it gave it.
    taskuser)
      local name="${arg%% *}"
      [[ "$name" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && [ "$name" != root ] && [ "$arg" = "$name $SYSROOT/var/lib/$name" ]
      ;;
    file | dir | log | link)
      p=$(norm_path "manifest entry" "$arg" 2>/dev/null) && [ "$p" = "$arg" ] || return 1
      case "$p" in "$PREFIX"/*) return 0 ;; esac
      for known in "$CLI_BIN" "$SUP_PROGRAMS" "$SUP_CONFD/httpagent-socket.conf" "$WATCHDOG_BIN" "$CRON_FILE" "$WATCHDOG_STATE" "$WATCHDOG_LOG" \
        "$UNIT_DIR/httpagent-agent.service" "$UNIT_DIR/httpagent-monitor.service" "$UNIT_DIR/httpagent-update-guard.service" "$UNIT_DIR/httpagent-update-guard.path"; do
        [ "$p" = "$known" ] && return 0
      done
      return 1
      ;;
    *) return 1 ;;
  esac
}

wait_healthy() {
  step "agent at $LISTEN"
  if [ "$NO_SERVICE" = 1 ] || [ "$DRY" = 1 ]; then info "skipped (no service started)"; return 0; fi
  # Enrolled (its credential saved) and its port up: all this host can see without a port token. node,
  # not curl: it is already required.
  if "$NODE_BIN" - "$PREFIX/var/credential" "$LISTEN" "$WAIT_SEC" <<'EOF'; then
const { existsSync } = await import('node:fs');
const [credential, listen, waitSec] = process.argv.slice(2);
const i = listen.lastIndexOf(':');
let host = listen.slice(0, i).replace(/^\[(.*)\]$/, '$1');
if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
if (host === '::') host = '::1';
const url = `http://${host.includes(':') ? `[${host}]` : host}:${listen.slice(i + 1)}/healthz`;
const deadline = Date.now() + Number(waitSec) * 1000;
let why = 'no answer yet';
for (;;) {
  if (!existsSync(credential)) why = `it has not enrolled yet (no ${credential}; its log says why: the controller URL or the enrollment token)`;
  else {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
      const h = await res.json().catch(() => ({}));
      if (res.ok && h.ok === true) { console.log(`    enrolled; the agent answers on ${url} (${h.state})`); process.exit(0); }
      why = `${url} answered ${res.status}`;
    } catch (err) { why = `${url}: ${err.cause?.code ?? err.message}`; }
  }
  if (Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 500));
}
console.error(`    not up after ${waitSec}s: ${why}`);
process.exit(1);
EOF
    return 0
  fi
  info "installed, but the agent is not up yet; see $PREFIX/log/agent.log"
  return 3
}

uninstall() {
  step "uninstall from $PREFIX"
  local m="$PREFIX/.install-manifest" e kind arg
  [ -d "$PREFIX" ] || { info "nothing installed at $PREFIX"; return 0; }
  [ -f "$m" ] && [ ! -L "$m" ] || die "no install manifest at $m: refusing to remove anything (only what install.sh listed there is removed)"
  if ! dir_ok "$PREFIX" || [ "$(stat -c %u -- "$m")" != "$MY_UID" ] || [ $((8#$(stat -c %a -- "$m") & 0022)) != 0 ]; then
    die "$m or $PREFIX can be changed by another user: refusing to remove what it lists"
  fi
  local entries=()
  while IFS= read -r e; do
    case "$e" in '#'* | '') continue ;; esac
    if [[ "$e" == "prefix "* ]]; then [ "${e#prefix }" = "$PREFIX" ] || die "$m belongs to prefix $(q "${e#prefix }"), not $PREFIX"; continue; fi
    manifest_entry_ok "$e" || die "$m lists $(q "$e"), which install.sh never makes: refusing to remove anything"
    entries+=("$e")
  done <"$m"
  # In a dry run, say what would be done and report "not done" so the caller's && info is skipped.
  act() { if [ "$DRY" = 1 ]; then info "would: $*"; return 1; fi; "$@"; }
  # Stopped first, so nothing runs from the files about to go. Failures are ignored: already stopped.
  for e in "${entries[@]}"; do
    case "$e" in
      "file $SUP_PROGRAMS") if [ -f "$SUP_PROGRAMS" ] && need_cmd supervisorctl; then act supctl stop 'httpagent:*' httpagent-fatal 2>/dev/null || true; fi ;;
      "file $UNIT_DIR/httpagent-agent.service") if [ -z "$SYSROOT" ] && need_cmd systemctl; then act systemctl disable --now httpagent-agent httpagent-monitor httpagent-update-guard.path 2>/dev/null || true; fi ;;
    esac
  done
  local kept=()
  for e in "${entries[@]}"; do
    kind=${e%% *} arg=${e#* }
    case "$kind" in
      file | link) if [ -e "$arg" ] || [ -L "$arg" ]; then act rm -f -- "$arg" && info "removed $arg"; fi ;;
      dir) if [ -e "$arg" ]; then act rm -rf -- "$arg" && info "removed $arg"; fi ;;
      log)
        [ -e "$arg" ] || continue
        if [ "$PURGE" = 1 ]; then act rm -rf -- "$arg" && info "removed $arg"; else kept+=("$e") && info "kept $arg (--purge removes it)"; fi
        ;;
      user)
        id -u "$arg" >/dev/null 2>&1 || continue
        if [ "$PURGE" = 1 ]; then act userdel -- "$arg" && info "removed user $arg"; else kept+=("$e") && info "kept user $arg (--purge removes it)"; fi
        ;;
      taskuser)
        local tu="${arg%% *}" th="${arg#* }"
        if [ "$PURGE" = 0 ]; then
          if id -u "$tu" >/dev/null 2>&1; then kept+=("$e") && info "kept user $tu (--purge removes it)"; fi
          continue
        fi
        if id -u "$tu" >/dev/null 2>&1; then act userdel -- "$tu" && info "removed user $tu"; fi
        if [ -e "$th" ]; then act rm -rf -- "$th" && info "removed $th"; fi
        ;;
    esac
  done
  if [ "$DRY" = 0 ]; then
    if need_cmd supervisorctl && supervisord_reachable; then supctl reread >/dev/null 2>&1 || true; supctl update >/dev/null 2>&1 || true; fi
    if [ -z "$SYSROOT" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
  fi
  if [ ${#kept[@]} -gt 0 ]; then
    # What stays is still listed, so a later --uninstall --purge can remove it.
    if [ "$DRY" = 0 ]; then
      printf '%s\n' "# written by install.sh: what --uninstall removes, and nothing else" "prefix $PREFIX" "${kept[@]}" >"$WORK/manifest"
      install_file "$m" "$WORK/manifest" 644 "$(stat -c '%u:%g' -- "$m")" "install manifest (now only what was kept)"
      drop_backups
    fi
    return 0
  fi
  act rm -f -- "$m" && info "removed $m"
  [ "$DRY" = 1 ] || rmdir -- "$PREFIX" 2>/dev/null || true
}

main() {
  set -Eeuo pipefail
  export LC_ALL=C
  umask 022
  MY_UID=$(id -u)
  PREFIX=/opt/httpagent
  SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  BUNDLE="" ALLOWED_SIGNERS=""
  RELEASE_TOOL="$SOURCE/src/bin/release-tool.js" # always this script's own checkout, whatever --source says
  NO_GIT=${HTTPAGENT_INSTALL_NO_GIT:-}
  SVC_USER="" INIT=auto NO_SERVICE=0 UNINSTALL=0 PURGE=0 WAIT_SEC=60 SOCKET_ACCESS=0
  SUPERVISOR_CONF=/etc/supervisor/supervisord.conf SYSROOT=""
  CONTROLLER_URL=${HTTPAGENT_CONTROLLER_URL:-http://127.0.0.1:9890}
  AGENT_ID=${HTTPAGENT_AGENT_ID:-}
  LABELS=${HTTPAGENT_LABELS:-}
  LISTEN=${HTTPAGENT_LISTEN:-0.0.0.0:9889}
  TASKS_DIR=${HTTPAGENT_TASKS_DIR:-}
  ALERT_TO=${HTTPAGENT_ALERT_TO:-}
  UPDATE_REMOTE=${HTTPAGENT_UPDATE_REMOTE:-}
  UPDATE_BRANCH=${HTTPAGENT_UPDATE_BRANCH:-main}
  DRAIN_GRACE=${HTTPAGENT_DRAIN_GRACE_SEC:-30}
  # Read before the HTTPAGENT_* variables are cleared below; used only to write var/enroll-token.
  ENROLL_TOKEN_FILE="" ENROLL_TOKEN=${HTTPAGENT_ENROLL_TOKEN:-} SMTP_URL_FILE="" SMTP_URL=""
  TASK_USER=httpagent-task CREATED_TASK_USER=0 TASK_USER_SET=0
  CREATED_USER=0 SUP_INSTALLED=0 UNITS_NEW=() ROOT_MODE=0 SVC_UID="" SVC_GID="" SVC_GROUP=""
  # The agent's own settings come from the config file install.sh writes: no HTTPAGENT_* variable of
  # this shell may reach the release's self-test or enrollment and change what they check.
  local v
  for v in $(compgen -e); do [[ "$v" == HTTPAGENT_* ]] && unset "$v"; done
  while [ $# -gt 0 ]; do
    case "$1" in
      --no-service) NO_SERVICE=1 ;;
      --dry-run) DRY=1 ;;
      --uninstall) UNINSTALL=1 ;;
      --purge) PURGE=1 ;;
      --supervisor-socket-access) SOCKET_ACCESS=1 ;;
      -h | --help) usage; exit 0 ;;
      --prefix | --source | --user | --task-user | --init | --controller-url | --enroll-token-file | --agent-id | --labels | --listen | --tasks-dir | \
        --smtp-url-file | --alert-to | --update-remote | --update-branch | --drain-grace-sec | --wait-sec | --supervisor-conf | \
        --system-root | --fail-at-step | --bundle | --allowed-signers)
        [ $# -ge 2 ] || usage_error "$1 needs a value (--help lists the options)"
        case "$1" in
          --prefix) PREFIX=$2 ;;
          --source) SOURCE=$2 ;;
          --user) SVC_USER=$2 ;;
          --task-user) TASK_USER=$2 ;;
          --init) INIT=$2 ;;
          --controller-url) CONTROLLER_URL=$2 ;;
          --enroll-token-file) ENROLL_TOKEN_FILE=$2 ;;
          --agent-id) AGENT_ID=$2 ;;
          --labels) LABELS=$2 ;;
          --listen) LISTEN=$2 ;;
          --tasks-dir) TASKS_DIR=$2 ;;
          --smtp-url-file) SMTP_URL_FILE=$2 ;;
          --alert-to) ALERT_TO=$2 ;;
          --update-remote) UPDATE_REMOTE=$2 ;;
          --update-branch) UPDATE_BRANCH=$2 ;;
          --drain-grace-sec) DRAIN_GRACE=$2 ;;
          --wait-sec) WAIT_SEC=$2 ;;
          --supervisor-conf) SUPERVISOR_CONF=$2 ;;
          --system-root) SYSROOT=$2 ;;
          --fail-at-step) FAIL_AT=$2 ;;
          --bundle) BUNDLE=$2 ;;
          --allowed-signers) ALLOWED_SIGNERS=$2 ;;
        esac
        shift
        ;;
      --agent-token | --platform-token | --enroll-token | --smtp-url)
        usage_error "$1 is gone: secrets never go on the command line (every user sees it in ps); the agent enrolls with --enroll-token-file (or HTTPAGENT_ENROLL_TOKEN), mail uses --smtp-url-file"
        ;;
      *) usage_error "unknown option $(q "$1") (--help lists the options)" ;;
    esac
    shift
  done
  [ "$DRY" = 1 ] && echo "dry run: nothing will be changed"

  # Everything a path, number or name must be is checked before any of it is used.
  is_uint "$FAIL_AT" || usage_error "--fail-at-step must be a number"
  [[ "$PREFIX" = /* ]] || PREFIX="$PWD/$PREFIX"
  PREFIX=$(norm_path --prefix "$PREFIX") || exit 2
  check_prefix "$PREFIX" || exit 2
  SUPERVISOR_CONF=$(norm_path --supervisor-conf "$SUPERVISOR_CONF") || exit 2
  if [ -n "$SYSROOT" ]; then SYSROOT=$(norm_path --system-root "$SYSROOT") || exit 2; fi
  CLI_BIN="$PREFIX/bin/httpagent"
  if [ "$MY_UID" = 0 ] && [ "$NO_SERVICE" = 0 ]; then CLI_BIN="$SYSROOT/usr/local/bin/httpagent"; fi
  SOURCE=$(cd "$SOURCE" 2>/dev/null && pwd) || usage_error "--source $(q "$SOURCE") is not a directory"
  # A bundle is a URL by the controller URL's rule, or a file by the path rule.
  if [ -n "$BUNDLE" ]; then
    if [[ "$BUNDLE" =~ ^https?:// ]]; then
      [[ "$BUNDLE" =~ ^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?(/[A-Za-z0-9._~%/+-]*)?$ ]] ||
        usage_error "--bundle must be http(s)://host[:port][/path] of plain characters or a file, not $(q "$BUNDLE")"
    else
      [[ "$BUNDLE" = /* ]] || BUNDLE="$PWD/$BUNDLE"
      BUNDLE=$(norm_path --bundle "$BUNDLE") || exit 2
      if [ ! -f "$BUNDLE" ] || [ ! -r "$BUNDLE" ]; then usage_error "--bundle $(q "$BUNDLE") is not a readable file"; fi
    fi
  fi
  if [ -n "$ALLOWED_SIGNERS" ]; then
    [ -n "$BUNDLE" ] || usage_error "--allowed-signers goes with --bundle"
    [[ "$ALLOWED_SIGNERS" = /* ]] || ALLOWED_SIGNERS="$PWD/$ALLOWED_SIGNERS"
    ALLOWED_SIGNERS=$(norm_path --allowed-signers "$ALLOWED_SIGNERS") || exit 2
    if [ ! -f "$ALLOWED_SIGNERS" ] || [ ! -r "$ALLOWED_SIGNERS" ]; then usage_error "--allowed-signers $(q "$ALLOWED_SIGNERS") is not a readable file"; fi
  fi
  CONFIG="$PREFIX/etc/httpagent.yaml"
  # System paths; --system-root moves them all (how the tests use a private supervisord).
  SUP_CONFD="$SYSROOT/etc/supervisor/conf.d"
  SUP_PROGRAMS="$SUP_CONFD/httpagent.conf"
  CRON_FILE="$SYSROOT/etc/cron.d/httpagent-watchdog"
  WATCHDOG_BIN="$SYSROOT/usr/local/sbin/httpagent-watchdog"
  WATCHDOG_LOG="$SYSROOT/var/log/httpagent-watchdog.log"
  WATCHDOG_STATE="$SYSROOT/var/lib/httpagent-watchdog"
  UNIT_DIR="$SYSROOT/etc/systemd/system"
  [[ "$TASK_USER" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] && [ "$TASK_USER" != root ] || usage_error "--task-user must be a user name ([a-z_][a-z0-9_-]*) other than root, not $(q "$TASK_USER")"
  TASK_HOME="$SYSROOT/var/lib/$TASK_USER"

  if [ "$UNINSTALL" = 1 ]; then
    WORK=$(mktemp -d "$(work_base)/httpagent-install.XXXXXX")
    trap cleanup_work EXIT
    # Bare, not `uninstall || ...`: set -e must stay on inside it, so a refusal stops everything.
    uninstall
    echo "uninstalled"
    return 0
  fi

  case "$INIT" in
    supervisor | systemd) INIT_RESOLVED=$INIT ;;
    auto) if [ -d /run/systemd/system ] && ! need_cmd supervisorctl; then INIT_RESOLVED=systemd; else INIT_RESOLVED=supervisor; fi ;;
    *) usage_error "--init must be supervisor, systemd or auto" ;;
  esac
  [ "$NO_SERVICE" = 1 ] && INIT_RESOLVED=none
  if [ "$NO_SERVICE" = 0 ] && [ "$MY_UID" != 0 ]; then usage_error "services need root; without root use --prefix DIR --no-service"; fi
  # A root install runs the agent as root (its tasks as the task user); without root, as the caller.
  [ -n "$SVC_USER" ] || SVC_USER=$([ "$MY_UID" = 0 ] && [ "$NO_SERVICE" = 0 ] && echo root || id -un)
  [ -n "$AGENT_ID" ] || AGENT_ID=$(hostname | tr -c 'A-Za-z0-9_.\n-' '-')
  NODE_BIN=$(command -v node || echo /usr/bin/node)
  NODE_BIN=$(norm_path "the path of node" "$NODE_BIN") || exit 2
  SAFE_PATH="$(dirname -- "$NODE_BIN"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  USER_LINE="user=$SVC_USER"
  [ "$MY_UID" = 0 ] || USER_LINE="; user: not set (installed without root)"
  is_uint "$DRAIN_GRACE" || usage_error "the drain grace (--drain-grace-sec or HTTPAGENT_DRAIN_GRACE_SEC) must be digits, not $(q "$DRAIN_GRACE")"
  STOP_WAIT_SEC=$((10#$DRAIN_GRACE + 30))
  # Self-update on a root install needs a place the agent may write its releases: app/ (see the head).
  CODE_ROOT=$PREFIX
  if [ -n "$UPDATE_REMOTE" ] && [ "$MY_UID" = 0 ] && [ "$NO_SERVICE" = 0 ] && [ "$SVC_USER" != root ]; then CODE_ROOT="$PREFIX/app"; fi
  WORK=$(mktemp -d "$(work_base)/httpagent-install.XXXXXX")
  trap cleanup_work EXIT

  trap rollback ERR
  check_requirements
  check_settings
  ensure_user
  ensure_task_user
  prepare_prefix
  write_config
  build_release
  switch_current
  install_cli
  install_services
  install_watchdog
  write_manifest
  fail_check
  trap - ERR
  drop_backups

  local rc=0
  wait_healthy || rc=$?
  if [ "$CHANGED" = 0 ]; then
    echo "nothing changed: httpagent $RELEASE_ID is installed at $PREFIX"
  elif [ "$DRY" = 1 ]; then
    echo "dry run: $CHANGED change(s) would be made"
  else
    echo "installed httpagent $RELEASE_ID at $PREFIX ($CHANGED change(s))"
  fi
  return "$rc"
}

main "$@"

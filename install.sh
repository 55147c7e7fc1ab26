#!/usr/bin/env bash
# httpagent installer for Debian/Ubuntu hosts. Everything lives in main(), called on the last line, so
# a partially downloaded script runs nothing. Run with --help for the options.
#
# Layout: <prefix>/releases/<name>, <prefix>/current -> releases/<name> (switched atomically),
# <prefix>/etc/httpagent.yaml (0600), <prefix>/var (state), <prefix>/log.
# The release layout (names, COMMIT and .release-ok, the staged npm ci/build/prune and self-test, the
# current switch) is not written here: this script runs src/bin/release-tool.js from its own checkout,
# the same code self-update uses (src/ops/release-layout.js, release-build.js). That code is plain
# JavaScript, so node runs it before anything is built; this script needs only node itself for it.

usage() {
  cat <<'EOF'
Usage: install.sh [options]

  --prefix DIR             install prefix (default /opt/httpagent)
  --source DIR             source checkout to install (default: the directory of this script)
  --user NAME              service user (root: default "httpagent", created when missing)
  --init supervisor|systemd|auto   how the agent and monitor are kept running (default auto)
  --no-service             install into the prefix only: no user, no service, nothing outside it
  --controller-url URL     HTTPAGENT_CONTROLLER_URL
  (environment only)       HTTPAGENT_ENROLL_TOKEN: the enrollment token, needed while the agent has
                           no credential yet; written to <prefix>/var/enroll-token (0600), which the
                           agent deletes once enrolled. Never printed, never a command-line argument.
  --agent-id ID            HTTPAGENT_AGENT_ID (default: host name)
  --labels k=v,k=v         HTTPAGENT_LABELS
  --listen HOST:PORT       HTTPAGENT_LISTEN (default 0.0.0.0:9889)
  --tasks-dir DIR          HTTPAGENT_TASKS_DIR
  --smtp-url URL           HTTPAGENT_SMTP_URL (never printed)
  --alert-to a@x,b@y       HTTPAGENT_ALERT_TO
  --update-remote URL      HTTPAGENT_UPDATE_REMOTE (self-update from git; off when unset)
  --update-branch NAME     HTTPAGENT_UPDATE_BRANCH (default main)
  --wait-sec N             how long to wait for the agent to enroll and answer on its port (default 60)
  --supervisor-conf FILE   supervisord's config, for supervisorctl -c (default /etc/supervisor/supervisord.conf)
  --system-root DIR        put system files (conf.d, cron.d, units, watchdog) under DIR (for tests)
  --dry-run                say what would change, change nothing
  --uninstall              remove what the installer made (logs are kept)
  --purge                  with --uninstall: remove logs and the created user too
EOF
}

STEP=0
CHANGED=0
DRY=0
UNDO=() # "kind<TAB>arg1<TAB>arg2": undone in reverse if a step fails
MANIFEST_ENTRIES=()

step() { STEP=$((STEP + 1)); printf '[%d] %s\n' "$STEP" "$*"; }
info() { printf '    %s\n' "$*"; }
# Returns failure instead of exiting: under `set -e` with the ERR trap, a failed step is rolled back.
die() { printf 'install.sh: %s\n' "$*" >&2; return 1; }
changed() { CHANGED=$((CHANGED + 1)); info "$*"; }
push_undo() { UNDO+=("$(printf '%s\t%s\t%s' "$1" "${2:-}" "${3:-}")"); }
sha() { sha256sum | cut -c1-64; }

rollback() {
  local rc=$?
  trap - ERR
  printf 'install.sh: step %d failed (exit %d); rolling back this run\n' "$STEP" "$rc" >&2
  local i kind a b
  for ((i = ${#UNDO[@]} - 1; i >= 0; i--)); do
    IFS=$'\t' read -r kind a b <<<"${UNDO[$i]}"
    case "$kind" in
      rm) rm -rf -- "$a" ;;
      restore) mv -f -- "$a" "$b" ;;
      relink) release_tool switch --prefix "$PREFIX" --to "$a" ;;
      unlink) rm -f -- "$a" ;;
      rmdir) rmdir -- "$a" 2>/dev/null || true ;;
    esac
  done
  exit 1
}

# Creates a directory and each missing parent, each undone by a rollback.
make_dir() {
  [ -d "$1" ] && return 0
  make_dir "$(dirname "$1")"
  mkdir "$1"
  push_undo rmdir "$1"
}

release_tool() { node "$RELEASE_TOOL" "$@"; }

# A value as a YAML double-quoted scalar; control characters are refused rather than escaped.
yq() {
  local v="$1"
  [[ "$v" =~ [[:cntrl:]] ]] && die "a setting contains a control character"
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  printf '"%s"' "$v"
}

need_cmd() { command -v "$1" >/dev/null 2>&1; }
supctl() { supervisorctl -c "$SUPERVISOR_CONF" "$@"; }

check_requirements() {
  step "checking requirements"
  local missing=()
  if ! need_cmd node; then
    missing+=("Node.js >= 20: curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs")
  else
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    if [ "$major" -lt 20 ]; then
      missing+=("Node.js >= 20 (found $(node -v)): curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs")
    fi
  fi
  need_cmd npm || missing+=("npm: apt-get install -y npm (or Node.js from NodeSource, which includes it)")
  [ -f "$RELEASE_TOOL" ] || missing+=("$RELEASE_TOOL: run install.sh from the httpagent checkout it came with")
  need_cmd tar || missing+=("tar: apt-get install -y tar")
  need_cmd sha256sum || missing+=("coreutils: apt-get install -y coreutils")
  if [ "$NO_SERVICE" = 0 ]; then
    case "$INIT" in
      supervisor)
        need_cmd supervisorctl || missing+=("supervisor: apt-get install -y supervisor")
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
  info "node $(node -v), npm $(npm -v)"
}

check_inputs() {
  step "checking settings"
  # The host keeps its own credential once enrolled; only a host without one needs the enrollment token.
  if [ ! -f "$PREFIX/var/credential" ]; then
    [ -n "$ENROLL_TOKEN" ] || die "this host has not enrolled yet: set HTTPAGENT_ENROLL_TOKEN to an enrollment token of the controller"
  fi
  [ -z "$ENROLL_TOKEN" ] || [[ "$ENROLL_TOKEN" =~ ^[[:graph:]]{16,512}$ ]] || die "the enrollment token must be 16-512 printable characters without spaces"
  [[ "$CONTROLLER_URL" =~ ^https?:// ]] || die "the controller URL must start with http:// or https://"
  [ -f "$SOURCE/package.json" ] || die "$SOURCE is not an httpagent source checkout (no package.json); use --source DIR"
  info "controller $CONTROLLER_URL, agent id ${AGENT_ID:-(host name)}, enrollment token: $([ -n "$ENROLL_TOKEN" ] && echo 'set (not shown)' || echo 'not needed (enrolled)')"
}

ensure_user() {
  step "service user"
  if [ "$NO_SERVICE" = 1 ] || [ "$(id -u)" != 0 ]; then
    info "running as $(id -un); files stay owned by it"
    return
  fi
  if id -u "$SVC_USER" >/dev/null 2>&1; then
    info "user $SVC_USER exists"
    return
  fi
  if [ "$DRY" = 1 ]; then changed "would create system user $SVC_USER"; return; fi
  useradd --system --home-dir "$PREFIX/var" --no-create-home --shell /usr/sbin/nologin "$SVC_USER"
  push_undo userdel "$SVC_USER"
  MANIFEST_ENTRIES+=("user $SVC_USER")
  changed "created system user $SVC_USER"
}

# The release install.sh would install from $SOURCE, as release-tool names it: a git checkout's HEAD
# commit (12 characters), else the version and a hash of the files. Also whether it is built already
# and what current points at. Reads only; a dry run uses it too.
describe_release() {
  local line
  line=$(release_tool describe --source "$SOURCE" --prefix "$PREFIX" ${NO_GIT:+--no-git})
  IFS=$'\t' read -r RELEASE_ID _ RELEASE_BUILT CURRENT_RELEASE <<<"$line"
  [ -n "$RELEASE_ID" ] || die "could not name the release of $SOURCE"
}

build_release() {
  step "release $RELEASE_ID"
  local dir="$PREFIX/releases/$RELEASE_ID"
  if [ "$RELEASE_BUILT" != yes ]; then
    if [ "$DRY" = 1 ]; then changed "would build $dir (npm ci, build, prune, self-test)"; return; fi
    make_dir "$PREFIX/releases"
    info "building from $SOURCE (staged; renamed into place once its self-test passed)"
    release_tool build --source "$SOURCE" --prefix "$PREFIX" --config "$CONFIG" --expect "$RELEASE_ID" ${NO_GIT:+--no-git} ||
      die "the release was not built (the output above says why)"
    push_undo rm "$dir"
    changed "built $dir"
    return
  fi
  info "already built: $dir"
  [ "$DRY" = 1 ] && return
  # Built by an earlier run, but the configuration may be new: the release must accept it before it
  # becomes (or stays) current.
  release_tool check --release "$dir" --config "$CONFIG" ||
    die "the release's self-test rejected the configuration (run: httpagent agent --self-test --config $CONFIG)"
}

render_config() {
  local state="$PREFIX/var"
  printf '# httpagent configuration, written by install.sh. It holds no token: the agent keeps its own\n'
  printf '# credential in stateDir/credential. Mode 0600 all the same: it may hold smtpUrl.\n'
  [ -n "$AGENT_ID" ] && printf 'agentId: %s\n' "$(yq "$AGENT_ID")"
  printf 'controllerUrl: %s\n' "$(yq "$CONTROLLER_URL")"
  printf 'enrollTokenFile: %s\n' "$(yq "$state/enroll-token")"
  printf 'listen: %s\n' "$(yq "$LISTEN")"
  printf 'stateDir: %s\n' "$(yq "$state")"
  [ -n "$LABELS" ] && printf 'labels: %s\n' "$(yq "$LABELS")"
  [ -n "$TASKS_DIR" ] && printf 'tasksDir: %s\n' "$(yq "$TASKS_DIR")"
  [ -n "$SMTP_URL" ] && printf 'smtpUrl: %s\n' "$(yq "$SMTP_URL")"
  [ -n "$ALERT_TO" ] && printf 'alertTo: %s\n' "$(yq "$ALERT_TO")"
  if [ -n "$UPDATE_REMOTE" ]; then
    printf 'updateRemote: %s\nupdateBranch: %s\nupdatePrefix: %s\n' "$(yq "$UPDATE_REMOTE")" "$(yq "$UPDATE_BRANCH")" "$(yq "$PREFIX")"
    # systemd kills what the agent spawns when it exits; a path unit runs the guard instead.
    [ "$INIT_RESOLVED" = systemd ] && printf 'updateGuard: "external"\n'
  fi
  return 0
}

# Writes $2 (content) to $1 with mode $3 unless the file already holds exactly that.
install_file() {
  local dest="$1" content="$2" mode="$3" what="$4"
  local want have=""
  want=$(printf '%s\n' "$content" | sha)
  [ -f "$dest" ] && have=$(sha <"$dest")
  if [ "$want" = "$have" ]; then info "$what unchanged ($dest)"; return 1; fi
  if [ "$DRY" = 1 ]; then changed "would write $what ($dest)"; return 0; fi
  make_dir "$(dirname "$dest")"
  if [ -f "$dest" ]; then cp -p "$dest" "$dest.install-backup" && push_undo restore "$dest.install-backup" "$dest"; else push_undo unlink "$dest"; fi
  (umask 077 && printf '%s\n' "$content" >"$dest.tmp")
  chmod "$mode" "$dest.tmp"
  mv -f "$dest.tmp" "$dest"
  rm -f "$dest.install-backup"
  changed "wrote $what ($dest, mode $mode)"
  return 0
}

write_config() {
  step "configuration"
  for d in "$PREFIX/var" "$PREFIX/log"; do
    if [ ! -d "$d" ]; then
      if [ "$DRY" = 1 ]; then changed "would create $d"; else make_dir "$d" && changed "created $d"; fi
    fi
  done
  # Written before the release is built: its self-test checks this file. A failed build restores it.
  CONFIG_CHANGED=0
  install_file "$CONFIG" "$(render_config)" 600 "config" && CONFIG_CHANGED=1
  # In the agent's own state dir, so the agent may delete it once enrolled (the token enrolls any id).
  if [ -n "$ENROLL_TOKEN" ] && [ ! -f "$PREFIX/var/credential" ]; then
    install_file "$PREFIX/var/enroll-token" "$ENROLL_TOKEN" 600 "enrollment token" >/dev/null || true
  fi
  if [ "$DRY" = 0 ] && [ "$NO_SERVICE" = 0 ] && [ "$(id -u)" = 0 ]; then
    chown -R "$SVC_USER:" "$PREFIX/var" "$PREFIX/log" "$CONFIG"
  fi
  return 0
}

switch_current() {
  step "current release"
  RELEASE_SWITCHED=0
  if [ "$CURRENT_RELEASE" = "$RELEASE_ID" ]; then info "current is releases/$RELEASE_ID"; return; fi
  if [ "$DRY" = 1 ]; then changed "would point current at releases/$RELEASE_ID"; RELEASE_SWITCHED=1; return; fi
  release_tool switch --prefix "$PREFIX" --to "$RELEASE_ID"
  if [ "$CURRENT_RELEASE" != - ]; then push_undo relink "$CURRENT_RELEASE"; else push_undo unlink "$PREFIX/current"; fi
  RELEASE_SWITCHED=1
  local was=""
  [ "$CURRENT_RELEASE" != - ] && was=" (was releases/$CURRENT_RELEASE)"
  changed "current -> releases/$RELEASE_ID$was"
}

# Puts `httpagent` on the PATH: /usr/local/bin for a root install with services, <prefix>/bin otherwise.
# A wrapper rather than a symlink to the .js file: it runs the current release with the Node found now,
# whatever `node` a later PATH would find, and needs no execute bit on the release's files.
install_cli() {
  local bin="$PREFIX/bin/httpagent"
  [ "$(id -u)" = 0 ] && [ "$NO_SERVICE" = 0 ] && bin="$SYSROOT/usr/local/bin/httpagent"
  local wrapper
  wrapper=$(printf '#!/bin/bash\n# written by install.sh: the httpagent command of the install at %s\nexec %q %q "$@"' \
    "$PREFIX" "$NODE_BIN" "$PREFIX/current/dist/src/bin/httpagent.js")
  install_file "$bin" "$wrapper" 755 "httpagent command" || true
  MANIFEST_ENTRIES+=("file $bin")
}

template_path() {
  local tpl="$PREFIX/releases/$RELEASE_ID/supervisor/$1"
  [ -f "$tpl" ] || tpl="$SOURCE/supervisor/$1" # a dry run has not built the release
  printf '%s' "$tpl"
}

render_template() {
  local tpl
  tpl=$(template_path "$1")
  sed -e "s#@NODE@#$NODE_BIN#g" -e "s#@PREFIX@#$PREFIX#g" -e "s#@CONFIG@#$CONFIG#g" -e "s#@USER@#$SVC_USER#g" \
    -e "s#@USER_LINE@#$USER_LINE#g" -e "s#@STOP_WAIT_SEC@#$STOP_WAIT_SEC#g" -e "s#@LOG_DIR@#$PREFIX/log#g" \
    -e "s#@HOME@#$PREFIX/var#g" -e "s#@SUPERVISOR_CONF@#$SUPERVISOR_CONF#g" -e "s#@WATCHDOG_LOG@#$WATCHDOG_LOG#g" \
    -e "s#@LOCK_FILE@#/run/lock/httpagent-watchdog.lock#g" -e "s#@WATCHDOG@#$WATCHDOG_BIN#g" "$tpl"
}

install_services() {
  step "services ($INIT_RESOLVED)"
  if [ "$DRY" = 0 ] && [ "$NO_SERVICE" = 0 ] && [ "$(id -u)" = 0 ]; then
    # The agent updates itself: releases/ and the current link must be the service user's.
    chown -R "$SVC_USER:" "$PREFIX"
  fi
  if [ "$NO_SERVICE" = 1 ]; then info "skipped (--no-service): start it with: $NODE_BIN $PREFIX/current/dist/src/bin/httpagent.js agent --config $CONFIG"; return; fi
  local svc_changed=0
  if [ "$INIT_RESOLVED" = supervisor ]; then
    install_file "$SUP_PROGRAMS" "$(render_template httpagent.conf.in)" 644 "supervisor programs" && svc_changed=1
    # cron runs the watchdog as root: it gets a root-owned copy, not the service user's prefix.
    install_file "$WATCHDOG_BIN" "$(cat "$(dirname "$(template_path httpagent.conf.in)")/watchdog.sh")" 755 "watchdog" || true
    install_file "$CRON_FILE" "$(render_template httpagent-watchdog.cron.in)" 644 "watchdog cron entry" || true
    MANIFEST_ENTRIES+=("file $SUP_PROGRAMS" "file $WATCHDOG_BIN" "file $CRON_FILE" "log $WATCHDOG_LOG")
    [ "$DRY" = 1 ] && return
    supctl reread >/dev/null
    supctl update >/dev/null
    if [ "$svc_changed" = 0 ] && { [ "$RELEASE_SWITCHED" = 1 ] || [ "$CONFIG_CHANGED" = 1 ]; }; then
      supctl restart 'httpagent:*' >/dev/null && changed "restarted httpagent:* on the new release/config"
    fi
  else
    install_file "$UNIT_DIR/httpagent-agent.service" "$(render_template httpagent-agent.service.in)" 644 "agent unit" && svc_changed=1
    install_file "$UNIT_DIR/httpagent-monitor.service" "$(render_template httpagent-monitor.service.in)" 644 "monitor unit" && svc_changed=1
    install_file "$UNIT_DIR/httpagent-update-guard.service" "$(render_template httpagent-update-guard.service.in)" 644 "update guard unit" || true
    install_file "$UNIT_DIR/httpagent-update-guard.path" "$(render_template httpagent-update-guard.path.in)" 644 "update guard trigger" || true
    MANIFEST_ENTRIES+=("file $UNIT_DIR/httpagent-agent.service" "file $UNIT_DIR/httpagent-monitor.service"
      "file $UNIT_DIR/httpagent-update-guard.service" "file $UNIT_DIR/httpagent-update-guard.path")
    [ "$DRY" = 1 ] && return
    systemctl daemon-reload
    systemctl enable --now httpagent-agent httpagent-monitor httpagent-update-guard.path >/dev/null 2>&1
    if [ "$svc_changed" = 1 ] || [ "$RELEASE_SWITCHED" = 1 ] || [ "$CONFIG_CHANGED" = 1 ]; then
      systemctl restart httpagent-agent httpagent-monitor && changed "restarted httpagent-agent and httpagent-monitor"
    fi
  fi
}

wait_online() {
  step "enrollment at $CONTROLLER_URL"
  if [ "$NO_SERVICE" = 1 ] || [ "$DRY" = 1 ]; then info "skipped (no service started)"; return 0; fi
  # Enrolled (its credential saved) and its port up: what this host can see without a platform secret.
  if node --input-type=module - "$PREFIX/var/credential" "$LISTEN" "$WAIT_SEC" <<'EOF'; then
import { existsSync } from 'node:fs';
const [credential, listen, waitSec] = process.argv.slice(2);
const port = listen.slice(listen.lastIndexOf(':') + 1);
const deadline = Date.now() + Number(waitSec) * 1000;
let why = 'no answer yet';
for (;;) {
  if (!existsSync(credential)) why = 'it has not enrolled yet (check its log: the controller URL and the enrollment token)';
  else {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      const body = await res.json();
      if (res.ok && body.ok) { console.log(`    enrolled; the agent is ${body.state}`); process.exit(0); }
      why = `its port answered ${res.status}`;
    } catch (err) { why = `its port does not answer: ${err.cause?.code ?? err.message}`; }
  }
  if (Date.now() > deadline) break;
  await new Promise((r) => setTimeout(r, 1000));
}
console.error(`    not up after ${waitSec}s: ${why}`);
process.exit(1);
EOF
    return 0
  fi
  info "installed, but the agent is not up yet; see $PREFIX/log/agent.log"
  return 3
}

write_manifest() {
  [ "$DRY" = 1 ] && return
  local m="$PREFIX/.install-manifest" content
  content=$(printf '%s\n' "# written by install.sh; used by --uninstall" "prefix $PREFIX" "${MANIFEST_ENTRIES[@]}")
  install_file "$m" "$content" 644 "install manifest" >/dev/null || true
}

uninstall() {
  step "uninstall from $PREFIX"
  [ -d "$PREFIX" ] || { info "nothing installed at $PREFIX"; return; }
  local m="$PREFIX/.install-manifest" kind arg
  local entries=()
  [ -f "$m" ] && mapfile -t entries < <(grep -v '^#' "$m")
  # In a dry run, say what would be done and report "not done" so the caller's && info is skipped.
  act() { if [ "$DRY" = 1 ]; then info "would: $*"; return 1; fi; "$@"; }
  if [ -f "$SUP_PROGRAMS" ] && grep -q "$PREFIX/current" "$SUP_PROGRAMS"; then
    act supctl stop 'httpagent:*' 'httpagent-fatal' >/dev/null 2>&1 || true
  fi
  if need_cmd systemctl && [ -f "$UNIT_DIR/httpagent-agent.service" ] && grep -q "$PREFIX/current" "$UNIT_DIR/httpagent-agent.service"; then
    act systemctl disable --now httpagent-agent httpagent-monitor httpagent-update-guard.path >/dev/null 2>&1 || true
  fi
  for e in "${entries[@]}"; do
    kind=${e%% *}
    arg=${e#* }
    case "$kind" in
      file) [ -e "$arg" ] && act rm -f -- "$arg" && info "removed $arg" ;;
      user) [ "$PURGE" = 1 ] && id -u "$arg" >/dev/null 2>&1 && act userdel "$arg" && info "removed user $arg" ;;
      log) [ "$PURGE" = 1 ] && [ -e "$arg" ] && act rm -f -- "$arg" && info "removed $arg" ;;
    esac
  done
  if [ "$DRY" = 0 ]; then
    need_cmd supervisorctl && supctl update >/dev/null 2>&1 || true
    [ -d /run/systemd/system ] && systemctl daemon-reload >/dev/null 2>&1 || true
  fi
  for p in current releases etc var bin .install-manifest; do
    [ -e "$PREFIX/$p" ] || [ -L "$PREFIX/$p" ] || continue
    act rm -rf -- "${PREFIX:?}/$p" && info "removed $PREFIX/$p"
  done
  if [ "$PURGE" = 1 ] && [ -d "$PREFIX/log" ]; then act rm -rf -- "${PREFIX:?}/log" && info "removed $PREFIX/log"; fi
  if [ -d "$PREFIX/log" ]; then info "kept logs in $PREFIX/log (--purge removes them)"; fi
  [ "$DRY" = 1 ] || rmdir "$PREFIX" 2>/dev/null || true
}

main() {
  set -Eeuo pipefail
  PREFIX=/opt/httpagent
  SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  RELEASE_TOOL="$SOURCE/src/bin/release-tool.js" # always this script's own checkout, whatever --source says
  NO_GIT=${HTTPAGENT_INSTALL_NO_GIT:-}
  SVC_USER=""
  INIT=auto
  NO_SERVICE=0 UNINSTALL=0 PURGE=0 WAIT_SEC=60
  SUPERVISOR_CONF=/etc/supervisor/supervisord.conf SYSROOT=""
  CONTROLLER_URL=${HTTPAGENT_CONTROLLER_URL:-http://127.0.0.1:9890}
  ENROLL_TOKEN=${HTTPAGENT_ENROLL_TOKEN:-}
  AGENT_ID=${HTTPAGENT_AGENT_ID:-}
  LABELS=${HTTPAGENT_LABELS:-}
  LISTEN=${HTTPAGENT_LISTEN:-0.0.0.0:9889}
  TASKS_DIR=${HTTPAGENT_TASKS_DIR:-}
  SMTP_URL=${HTTPAGENT_SMTP_URL:-}
  ALERT_TO=${HTTPAGENT_ALERT_TO:-}
  UPDATE_REMOTE=${HTTPAGENT_UPDATE_REMOTE:-}
  UPDATE_BRANCH=${HTTPAGENT_UPDATE_BRANCH:-main}
  while [ $# -gt 0 ]; do
    case "$1" in
      --prefix) PREFIX=$2; shift ;;
      --source) SOURCE=$2; shift ;;
      --user) SVC_USER=$2; shift ;;
      --init) INIT=$2; shift ;;
      --no-service) NO_SERVICE=1 ;;
      --controller-url) CONTROLLER_URL=$2; shift ;;
      --agent-id) AGENT_ID=$2; shift ;;
      --labels) LABELS=$2; shift ;;
      --listen) LISTEN=$2; shift ;;
      --tasks-dir) TASKS_DIR=$2; shift ;;
      --smtp-url) SMTP_URL=$2; shift ;;
      --alert-to) ALERT_TO=$2; shift ;;
      --update-remote) UPDATE_REMOTE=$2; shift ;;
      --update-branch) UPDATE_BRANCH=$2; shift ;;
      --wait-sec) WAIT_SEC=$2; shift ;;
      --supervisor-conf) SUPERVISOR_CONF=$2; shift ;;
      --system-root) SYSROOT=${2%/}; shift ;;
      --dry-run) DRY=1 ;;
      --uninstall) UNINSTALL=1 ;;
      --purge) PURGE=1 ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option $1" ;;
    esac
    shift
  done
  [[ "$PREFIX" = /* ]] || PREFIX="$PWD/$PREFIX"
  PREFIX=${PREFIX%/}
  SOURCE=$(cd "$SOURCE" && pwd)
  CONFIG="$PREFIX/etc/httpagent.yaml"
  # System paths; --system-root moves them all (how the tests use a private supervisord).
  SUP_PROGRAMS="$SYSROOT/etc/supervisor/conf.d/httpagent.conf"
  CRON_FILE="$SYSROOT/etc/cron.d/httpagent-watchdog"
  WATCHDOG_BIN="$SYSROOT/usr/local/sbin/httpagent-watchdog"
  WATCHDOG_LOG="$SYSROOT/var/log/httpagent-watchdog.log"
  UNIT_DIR="$SYSROOT/etc/systemd/system"
  [ "$DRY" = 1 ] && echo "dry run: nothing will be changed"

  if [ "$UNINSTALL" = 1 ]; then
    uninstall
    echo "uninstalled"
    return 0
  fi

  case "$INIT" in
    supervisor | systemd) INIT_RESOLVED=$INIT ;;
    auto) if [ -d /run/systemd/system ] && ! need_cmd supervisorctl; then INIT_RESOLVED=systemd; else INIT_RESOLVED=supervisor; fi ;;
    *) die "--init must be supervisor, systemd or auto" ;;
  esac
  [ "$NO_SERVICE" = 1 ] && INIT_RESOLVED=none
  [ -n "$SVC_USER" ] || SVC_USER=$([ "$(id -u)" = 0 ] && [ "$NO_SERVICE" = 0 ] && echo httpagent || id -un)
  if [ "$NO_SERVICE" = 0 ] && [ "$(id -u)" != 0 ]; then die "services need root; without root use --prefix DIR --no-service"; fi
  NODE_BIN=$(command -v node || echo node)
  USER_LINE="user=$SVC_USER"
  [ "$(id -u)" = 0 ] || USER_LINE="; user: not set (installed without root)"
  local grace=${HTTPAGENT_DRAIN_GRACE_SEC:-30}
  STOP_WAIT_SEC=$((grace + 30))

  trap rollback ERR
  check_requirements
  check_inputs
  ensure_user
  describe_release
  write_config
  build_release
  switch_current
  install_cli
  install_services
  write_manifest
  trap - ERR

  local rc=0
  wait_online || rc=$?
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

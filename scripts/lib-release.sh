# Releases of a service directory: which one is live (<dir>/current), the order they were installed in
# (<dir>/releases/.order, one name a line), and whether the live one is healthy (sourced after lib.sh).

# Points $1/current at releases/$2 by renaming a new symlink over the old one: rename(2) is atomic, so
# a reader sees the old release or the new one, never neither.
switch_current() {
  if [ -L "$1/releases/$2" ] || [ ! -d "$1/releases/$2" ]; then die "release $2 is not installed"; fi
  if [ -e "$1/current" ] && [ ! -L "$1/current" ]; then die "$1/current is not a symlink; refusing to replace it"; fi
  _sc_tmp="$1/.current.$$"
  ln -sfn -- "releases/$2" "$_sc_tmp"
  mv -T -f -- "$_sc_tmp" "$1/current"
  printf 'current -> releases/%s\n' "$2"
}

# The name of the live release, or nothing.
current_release() {
  _cr=$(readlink -- "$1/current" 2>/dev/null) || return 0
  case "$_cr" in releases/*) printf '%s' "${_cr#releases/}" ;; esac
}

# Install order: appended by deploy, rewritten by prune. Names only (check_name), so lines are safe.
order_add() {
  need_plain "$1/releases/.order" "$1"
  printf '%s\n' "$2" >> "$1/releases/.order"
}

order_remove() {
  [ -f "$1/releases/.order" ] || return 0
  need_plain "$1/releases/.order" "$1"
  _or_tmp=$(mktemp "$1/releases/.order.XXXXXX")
  grep -vxF -e "$2" -- "$1/releases/.order" > "$_or_tmp" || true
  mv -T -f -- "$_or_tmp" "$1/releases/.order"
}

# The installed releases, oldest first, that still exist.
order_list() {
  [ -f "$1/releases/.order" ] || return 0
  while IFS= read -r _ol; do
    case "$_ol" in ''|.*|*[!A-Za-z0-9_.-]*) continue ;; esac
    [ -d "$1/releases/$_ol" ] && printf '%s\n' "$_ol"
  done < "$1/releases/.order"
}

# The release installed just before $2 (the live one), or nothing: what rollback goes back to. By
# install order, not by history, so rolling back twice walks further back instead of flipping.
release_before() {
  order_list "$1" | awk -v cur="$2" '$0 == cur { print prev; found = 1; exit } { prev = $0 } END { if (!found) print prev }'
}

# Removes the oldest releases beyond the newest $2, never the live one ($3). keep=1 leaves nothing to
# roll back to: that is the operator's choice.
prune_releases() {
  _pr_total=$(order_list "$1" | wc -l)
  _pr_excess=$((_pr_total - $2))
  [ "$_pr_excess" -gt 0 ] || return 0
  for _pr in $(order_list "$1"); do
    [ "$_pr_excess" -gt 0 ] || break
    [ "$_pr" != "$3" ] || continue
    need_inside "$1/releases/$_pr" "$1/releases"
    rm -rf --one-file-system -- "${1:?}/releases/$_pr"
    order_remove "$1" "$_pr"
    printf 'pruned release %s\n' "$_pr"
    _pr_excess=$((_pr_excess - 1))
  done
}

# One try of the health check: GET $HTTPAGENT_PARAM_HEALTH_URL answers 2xx, or the release-relative
# command $HTTPAGENT_PARAM_HEALTH_CMD exits 0; each bounded by $2 seconds. $1 is the real service dir.
health_once() {
  if [ -n "${HTTPAGENT_PARAM_HEALTH_URL-}" ]; then
    if command -v curl >/dev/null 2>&1; then
      curl -fsS -o /dev/null --max-time "$2" -- "$HTTPAGENT_PARAM_HEALTH_URL" 2>/dev/null || return 1
    elif command -v wget >/dev/null 2>&1; then
      wget -q -O /dev/null --timeout="$2" --tries=1 -- "$HTTPAGENT_PARAM_HEALTH_URL" 2>/dev/null || return 1
    else
      node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(Number(process.argv[2]) * 1000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
        "$HTTPAGENT_PARAM_HEALTH_URL" "$2" || return 1
    fi
  fi
  if [ -n "${HTTPAGENT_PARAM_HEALTH_CMD-}" ]; then
    (cd "$1/current" && exec env -i PATH="$PATH" HOME="$1" SERVICE_DIR="$1" timeout -k 1 "$2" "./$HTTPAGENT_PARAM_HEALTH_CMD" </dev/null 9>&-) || return 1
  fi
  return 0
}

# Validates the health params (dies on bad ones) and prints a description, or nothing when none is set.
health_params() {
  _hu=${HTTPAGENT_PARAM_HEALTH_URL-}
  _hc=${HTTPAGENT_PARAM_HEALTH_CMD-}
  case "$_hu" in ''|http://*|https://*) ;; *) die "health_url must be http:// or https://, got: $_hu" ;; esac
  case "/$_hc/" in */../*|*/./*|//*/) die "health_cmd must be a path inside the release without . or .., got: $_hc" ;; esac
  case "$_hc" in *[!A-Za-z0-9_./-]*) die "health_cmd must be a release-relative path (A-Z a-z 0-9 _ . / -), got: $_hc" ;; esac
  check_uint health_retries "${HTTPAGENT_PARAM_HEALTH_RETRIES:-10}"
  check_seconds health_interval "${HTTPAGENT_PARAM_HEALTH_INTERVAL:-1}"
  check_uint health_timeout "${HTTPAGENT_PARAM_HEALTH_TIMEOUT:-5}"
  [ "${HTTPAGENT_PARAM_HEALTH_TIMEOUT:-5}" -gt 0 ] || die "health_timeout must be at least 1"
}

# Runs the health check of the live release of $1 up to health_retries times, health_interval seconds
# apart. Returns 0 when healthy or when no check is configured.
health_check() {
  [ -n "${HTTPAGENT_PARAM_HEALTH_URL-}${HTTPAGENT_PARAM_HEALTH_CMD-}" ] || { printf 'no health check configured\n'; return 0; }
  if [ -n "${HTTPAGENT_PARAM_HEALTH_CMD-}" ]; then
    need_inside "$1/current/$HTTPAGENT_PARAM_HEALTH_CMD" "$(real_path "$1/current")"
    [ -x "$1/current/$HTTPAGENT_PARAM_HEALTH_CMD" ] || { printf 'health_cmd %s is not an executable in the release\n' "$HTTPAGENT_PARAM_HEALTH_CMD"; return 1; }
  fi
  _hc_tries=${HTTPAGENT_PARAM_HEALTH_RETRIES:-10}
  [ "$_hc_tries" -gt 0 ] || _hc_tries=1
  _hc_i=1
  while :; do
    if health_once "$1" "${HTTPAGENT_PARAM_HEALTH_TIMEOUT:-5}"; then
      printf 'healthy after %s try(s)\n' "$_hc_i"
      return 0
    fi
    [ "$_hc_i" -lt "$_hc_tries" ] || break
    sleep "${HTTPAGENT_PARAM_HEALTH_INTERVAL:-1}"
    _hc_i=$((_hc_i + 1))
  done
  printf 'unhealthy after %s try(s)\n' "$_hc_i"
  return 1
}

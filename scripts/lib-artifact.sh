# Turning an artifact URL into a release directory: download, sha256 check, a listing check before
# unpacking, a tree check after it, and config templates rendered from params (sourced after lib.sh).
# Assumes GNU tar (Debian's): it refuses to write through a symlink it has just extracted, which is
# why the tree check after unpacking is enough for links (the listing check covers names).
# Lists go to $scratch, a directory the calling task creates and removes on exit.

# Downloads URL $1 to file $2 within $3 seconds. http(s) with curl, else wget, else Node's fetch;
# file:// only from a service root or ARTIFACT_ROOTS, so a deploy cannot read arbitrary host files.
fetch_artifact() {
  case "$1" in
    http://*|https://*)
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --proto '=http,https' --proto-redir '=http,https' --max-time "$3" -o "$2" -- "$1"
      elif command -v wget >/dev/null 2>&1; then
        wget -q --tries=3 --timeout="$3" -O "$2" -- "$1"
      else
        # fetch rejects a body cut short ("terminated"), so a half download fails here too.
        # shellcheck disable=SC2016 # JavaScript, not shell: nothing in it is to be expanded
        node --input-type=module -e '
          import { createWriteStream } from "node:fs";
          import { Readable } from "node:stream";
          import { pipeline } from "node:stream/promises";
          const [url, out, sec] = process.argv.slice(1);
          const res = await fetch(url, { signal: AbortSignal.timeout(Number(sec) * 1000) });
          if (!res.ok) { process.stderr.write(`HTTP ${res.status} from ${url}\n`); process.exit(22); }
          await pipeline(Readable.fromWeb(res.body), createWriteStream(out));
        ' "$1" "$2" "$3"
      fi
      ;;
    file:///*)
      _fa_path=${1#file://}
      case "$_fa_path" in *%*) die "file URLs must not be percent-encoded: $1" ;; esac
      _fa_real=$(real_path "$_fa_path")
      _fa_roots="$(service_roots)
$(resolve_roots "${ARTIFACT_ROOTS-}" ARTIFACT_ROOTS)"
      below_any "$_fa_real" "$_fa_roots" || die "$_fa_path (real path $_fa_real) is in neither a service root nor ARTIFACT_ROOTS"
      [ -f "$_fa_real" ] || die "$_fa_path is not a file"
      cp -- "$_fa_real" "$2"
      ;;
    *) die "url must be http://, https:// or file:///, got: $1" ;;
  esac
}

# The archive format of URL $1 from its name: tgz or zip.
artifact_format() {
  _af=${1%%[?#]*}
  case "$_af" in
    *.tar.gz|*.tgz) echo tgz ;;
    *.zip)
      command -v unzip >/dev/null 2>&1 || die "a .zip artifact needs unzip on this host"
      echo zip
      ;;
    *) die "the artifact must be a .tar.gz, .tgz or .zip, got: $1" ;;
  esac
}

# Refuses archive $2 (format $1) when a member name is absolute, has a ".." component, or holds a
# backslash or control character (GNU tar lists those escaped; unzip would split the line).
check_listing() {
  _cl="${scratch:?}/listing"
  if [ "$1" = tgz ]; then tar -tzf "$2" > "$_cl" || die "the artifact is not a readable tar.gz"; fi
  if [ "$1" = zip ]; then unzip -Z1 "$2" > "$_cl" || die "the artifact is not a readable zip"; fi
  _cl_bad=$(awk '
    /^\// || /(^|\/)\.\.(\/|$)/ || /\\/ || /[[:cntrl:]]/ { print; n++; if (n == 5) exit }
  ' "$_cl")
  [ -z "$_cl_bad" ] || die "refused artifact: members outside the release (absolute, .., or escaped names): $(printf '%s' "$_cl_bad" | tr '\n' ' ')"
}

# Unpacks archive $2 (format $1) into the empty directory $3, then checks the tree: no symlink may lead
# outside $3 (absolute targets are refused outright), no hard links, devices or fifos, no control
# characters in names; setuid/setgid bits are dropped (a root deploy must not mint setuid binaries).
unpack_artifact() {
  check_listing "$1" "$2"
  if [ "$1" = tgz ]; then
    tar -xzf "$2" -C "$3" --no-same-owner || die "unpacking failed"
  else
    unzip -qq -n "$2" -d "$3" || die "unpacking failed"
  fi
  _ua_bad=$(find "$3" \( -name '*[[:cntrl:]\\]*' -o -type b -o -type c -o -type p -o -type s -o \( -type f -links +1 \) \) -print | head -n 5)
  [ -z "$_ua_bad" ] || die "refused artifact: special files, hard links or odd names: $_ua_bad"
  find "$3" -type l > "${scratch:?}/links"
  while IFS= read -r _ua_l; do
    _ua_t=$(readlink -- "$_ua_l")
    case "$_ua_t" in /*) die "refused artifact: symlink ${_ua_l#"$3"/} -> $_ua_t is absolute" ;; esac
    _ua_r=$(real_path "$(dirname -- "$_ua_l")/$_ua_t")
    if [ "$_ua_r" != "$3" ] && ! below "$_ua_r" "$3"; then
      die "refused artifact: symlink ${_ua_l#"$3"/} -> $_ua_t leads outside the release"
    fi
  done < "${scratch:?}/links"
  find "$3" -type f -perm /6000 -exec chmod ug-s -- {} +
}

# Renders every *.tmpl file under release $1 to the same name without .tmpl: each {{NAME}} becomes the
# value of param NAME (case does not matter), inserted as literal text by awk from ENVIRON, so no value
# is ever parsed as code or as a sed/regex replacement. A placeholder without a param fails the deploy.
render_templates() {
  find "$1" -type f -name '*.tmpl' > "${scratch:?}/templates"
  while IFS= read -r _rt; do
    _rt_out=${_rt%.tmpl}
    if [ -L "$_rt_out" ] || [ -d "$_rt_out" ]; then die "template target ${_rt_out#"$1"/} is a symlink or directory"; fi
    _rt_tmp=$(mktemp "$(dirname -- "$_rt")/.render.XXXXXX")
    if ! awk '
      {
        line = $0; out = ""
        while (match(line, /[{][{][A-Za-z0-9_]+[}][}]/)) {
          key = "HTTPAGENT_PARAM_" toupper(substr(line, RSTART + 2, RLENGTH - 4))
          if (!(key in ENVIRON)) { missing = missing " " substr(line, RSTART, RLENGTH); bad = 1 }
          out = out substr(line, 1, RSTART - 1) ENVIRON[key]
          line = substr(line, RSTART + RLENGTH)
        }
        print out line
      }
      END { if (bad) { print "no param for" missing > "/dev/stderr"; exit 3 } }
    ' "$_rt" > "$_rt_tmp"; then
      rm -f -- "$_rt_tmp"
      die "template ${_rt#"$1"/} could not be rendered"
    fi
    chmod --reference="$_rt" -- "$_rt_tmp"
    mv -T -f -- "$_rt_tmp" "$_rt_out"
    printf 'rendered %s\n' "${_rt_out#"$1"/}"
  done < "${scratch:?}/templates"
}

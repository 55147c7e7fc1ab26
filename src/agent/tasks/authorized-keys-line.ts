// Reading one line of an existing authorized_keys file the way sshd does (sshd(8) "AUTHORIZED_KEYS FILE
// FORMAT"): `[options] type base64 [comment]`, so that a key is recognised by its type and its decoded
// data, never by text that merely appears somewhere in the line (a comment or an option's quoted value).

export interface AuthorizedKeysEntry {
  /** The options field as written (`restrict,command="..."`), or null when the line has none. */
  options: string | null;
  type: string;
  /** The decoded key blob. */
  blob: Buffer;
  comment: string;
}

const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const TYPE_NAME = /^[A-Za-z0-9@._+-]{1,128}$/;

/** Whitespace sshd separates fields with. */
const isSpace = (c: string | undefined) => c === ' ' || c === '\t';

function skipSpace(s: string, at: number): number {
  while (isSpace(s[at])) at++;
  return at;
}

function token(s: string, at: number): { text: string; end: number } {
  let end = at;
  while (end < s.length && !isSpace(s[end])) end++;
  return { text: s.slice(at, end), end };
}

/**
 * `type base64` starting at `at`: the base64 must decode strictly and the blob must open with the same
 * type string, which is what sshd's key reader requires before it even looks at options. Whether the
 * rest of the blob is a sound key is not judged here: an existing line is kept, not vetted.
 */
function keyAt(s: string, at: number): Omit<AuthorizedKeysEntry, 'options'> | undefined {
  const type = token(s, at);
  if (!TYPE_NAME.test(type.text)) return undefined;
  const data = token(s, skipSpace(s, type.end));
  if (!STRICT_BASE64.test(data.text) || data.text.length % 4 !== 0) return undefined;
  const blob = Buffer.from(data.text, 'base64');
  if (blob.length < 4) return undefined;
  const typeLen = blob.readUInt32BE(0);
  if (typeLen !== type.text.length || blob.subarray(4, 4 + typeLen).toString('latin1') !== type.text) return undefined;
  return { type: type.text, blob, comment: s.slice(skipSpace(s, data.end)) };
}

/**
 * The end of an options field starting at `at`: the first space or tab outside double quotes, where
 * `\"` inside quotes is a literal quote. Undefined when a quote is left open (sshd refuses such a line).
 */
function optionsEnd(s: string, at: number): number | undefined {
  let quoted = false;
  for (let i = at; i < s.length; i++) {
    const c = s[i];
    if (!quoted && isSpace(c)) return i;
    if (c === '\\' && quoted && s[i + 1] === '"') i++;
    else if (c === '"') quoted = !quoted;
  }
  return quoted ? undefined : s.length;
}

/**
 * Parses one line. Blank lines, `#` comments and lines sshd could not read as a key answer undefined.
 * Like sshd, a line is first read as a bare key; only if that fails is its first field taken as options.
 */
export function parseAuthorizedKeysLine(line: string): AuthorizedKeysEntry | undefined {
  const s = line.replace(/[ \t\r]+$/, '');
  const start = skipSpace(s, 0);
  if (start === s.length || s[start] === '#') return undefined;
  const bare = keyAt(s, start);
  if (bare) return { options: null, ...bare };
  const end = optionsEnd(s, start);
  if (end === undefined || end === s.length) return undefined;
  const key = keyAt(s, skipSpace(s, end));
  return key ? { options: s.slice(start, end), ...key } : undefined;
}

/** Whether the line authorises exactly this key: same type, same key bytes. Options and comment do not matter. */
export function lineHasKey(line: string, key: { type: string; blob: Buffer }): boolean {
  const entry = parseAuthorizedKeysLine(line);
  return entry !== undefined && entry.type === key.type && entry.blob.equals(key.blob);
}

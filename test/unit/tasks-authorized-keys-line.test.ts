// Reading existing authorized_keys lines as sshd does, and matching a key by type and key bytes only.
import { describe, expect, it } from 'vitest';
import { lineHasKey, parseAuthorizedKeysLine } from '../../src/agent/tasks/authorized-keys-line.js';
import { parseSshPublicKey } from '../../src/agent/tasks/ssh-public-key.js';
import { newPublicKey } from '../helpers/ssh-keys.js';

const a = parseSshPublicKey(newPublicKey('ssh-ed25519'));
const b = parseSshPublicKey(newPublicKey('ssh-ed25519'));
const aText = `${a.type} ${a.base64}`;
const bText = `${b.type} ${b.base64}`;

describe('parseAuthorizedKeysLine', () => {
  it('splits options, type, key and comment', () => {
    expect(parseAuthorizedKeysLine(`${aText} alice@laptop  two words`)).toEqual({ options: null, type: a.type, blob: a.blob, comment: 'alice@laptop  two words' });
    expect(parseAuthorizedKeysLine(`  restrict,from="10.0.0.1" \t${aText}`)).toMatchObject({ options: 'restrict,from="10.0.0.1"', type: a.type, comment: '' });
    // A quoted option value may hold spaces and escaped quotes.
    const opts = 'command="echo \\"hi there\\" && exit",no-pty';
    expect(parseAuthorizedKeysLine(`${opts} ${aText} c`)).toMatchObject({ options: opts, type: a.type, comment: 'c' });
  });

  it('skips blank lines and comments, and tolerates a CRLF line end', () => {
    for (const l of ['', '   ', `# ${aText}`, `  #${aText}`]) expect(parseAuthorizedKeysLine(l), JSON.stringify(l)).toBeUndefined();
    expect(parseAuthorizedKeysLine(`${aText} c\r`)).toMatchObject({ type: a.type, comment: 'c' });
  });

  it('answers undefined for what sshd could not read as a key', () => {
    for (const l of [`command="unclosed ${aText}`, 'ssh-ed25519', 'ssh-ed25519 not-base64!', `ssh-rsa ${a.base64}`, 'garbage line here']) {
      expect(parseAuthorizedKeysLine(l), l).toBeUndefined();
    }
  });
});

describe('lineHasKey', () => {
  it('matches the same key whatever options or comment the line carries', () => {
    expect(lineHasKey(aText, a)).toBe(true);
    expect(lineHasKey(`from="10.0.0.1" ${aText} old comment`, a)).toBe(true);
    expect(lineHasKey(`# ${aText}`, a)).toBe(false);
    expect(lineHasKey(bText, a)).toBe(false);
  });

  it('does not match a key that only appears in the comment (regression: a comment holding another key matched it)', () => {
    expect(lineHasKey(`${bText} see ${aText}`, a)).toBe(false);
    expect(lineHasKey(`${bText} see ${aText}`, b)).toBe(true);
  });

  it('does not match a key that only appears inside a quoted option', () => {
    expect(lineHasKey(`command="echo ${aText}" ${bText}`, a)).toBe(false);
    expect(lineHasKey(`command="echo ${aText}" ${bText}`, b)).toBe(true);
  });

  it('compares key bytes, not text: a non-canonical spelling of the same key still matches', () => {
    // A nistp256 blob is 104 bytes: the base64 char before the one `=` carries 2 spare bits; setting
    // one spells the same bytes differently.
    const k = parseSshPublicKey(newPublicKey('ecdsa-sha2-nistp256'));
    const last = k.base64.at(-2)!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const spelled = k.base64.slice(0, -2) + alphabet[alphabet.indexOf(last) | 1] + '=';
    expect(spelled).not.toBe(k.base64);
    expect(Buffer.from(spelled, 'base64').equals(k.blob)).toBe(true);
    expect(lineHasKey(`${k.type} ${spelled}`, k)).toBe(true);
  });
});

// SSH public key validation: what may reach authorized_keys. Captured ssh-keygen keys are the ground
// truth for the format; generated keys cover every type; crafted blobs cover every way to break one.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { authorizedKeyLine, parseSshPublicKey, SSH_KEY_TYPES } from '../../src/agent/tasks/ssh-public-key.js';
import { parsePasswd } from '../../src/agent/tasks/passwd.js';
import { newKeyBlob, newPublicKey, sshMpint, sshString } from '../helpers/ssh-keys.js';

const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/ssh-keys/${name}`, import.meta.url), 'utf8')
    .split('\n')
    .filter((l) => l && !l.startsWith('#'));
const captured = fixture('public-keys.txt');
const fingerprints = fixture('fingerprints.txt').map((l) => l.split(' ')[1]);

const line = (type: string, blob: Buffer) => `${type} ${blob.toString('base64')}`;
const invalid = expect.objectContaining({ code: 'INVALID_SSH_KEY', statusCode: 400 });

describe('parseSshPublicKey', () => {
  it('accepts the keys ssh-keygen wrote, with the fingerprints ssh-keygen -l printed', () => {
    expect(captured).toHaveLength(6);
    captured.forEach((text, i) => {
      const k = parseSshPublicKey(text);
      expect(k.fingerprint).toBe(fingerprints[i]);
      expect(authorizedKeyLine(k)).toBe(text);
    });
  });

  it('accepts every supported type, and keeps a plain comment with its spaces folded', () => {
    for (const t of SSH_KEY_TYPES) {
      const text = newPublicKey(t);
      const k = parseSshPublicKey(`  ${text}   bob@host  laptop `);
      expect(k.type).toBe(t);
      expect(k.comment).toBe('bob@host laptop');
      expect(authorizedKeyLine(k)).toBe(`${text} bob@host laptop`);
    }
  });

  it('accepts exactly one trailing newline (as `cat key.pub` gives it), and no other line break', () => {
    const text = captured[3]!;
    expect(authorizedKeyLine(parseSshPublicKey(`${text}\n`))).toBe(text);
    for (const bad of [`${text}\n\n`, `${text}\r\n`, `${text}\r`, `\n${text}`]) expect(() => parseSshPublicKey(bad), JSON.stringify(bad)).toThrow(invalid);
  });

  const ed = newKeyBlob('ssh-ed25519');
  const edText = line('ssh-ed25519', ed);
  it.each([
    ['options prefix', `command="/bin/sh" ${edText}`],
    ['restrict option', `restrict,pty ${edText}`],
    ['a second line', `${edText}\n${captured[0]}`],
    ['carriage return', `${edText}\rcommand="x"`],
    ['NUL', `${edText}\0`],
    ['unknown type', line('ssh-dss', Buffer.concat([sshString('ssh-dss'), sshString(Buffer.alloc(32, 7))]))],
    ['bad base64', 'ssh-ed25519 AAAA$$$$'],
    ['non-canonical padding', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB='],
    ['type mismatch', line('ssh-ed25519', newKeyBlob('ssh-rsa'))],
    ['type only', line('ssh-ed25519', sshString('ssh-ed25519'))],
    ['missing data', 'ssh-ed25519'],
    ['control char in comment', `${edText} a\u001bb`],
    ['bytes after the key', line('ssh-ed25519', Buffer.concat([ed, Buffer.of(0)]))],
    ['an Ed25519 key of 31 bytes', line('ssh-ed25519', Buffer.concat([sshString('ssh-ed25519'), sshString(Buffer.alloc(31, 7))]))],
    ['a length running past the end', line('ssh-ed25519', Buffer.concat([sshString('ssh-ed25519'), Buffer.from([0xff, 0xff, 0xff, 0xff]), Buffer.alloc(32)]))],
    ['an EC point off the curve', line('ecdsa-sha2-nistp256', Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(Buffer.concat([Buffer.of(4), Buffer.alloc(64, 1)]))]))],
    ['a curve name that is not the type', line('ecdsa-sha2-nistp256', Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp384'), sshString(Buffer.alloc(65, 4))]))],
    ['a compressed EC point', line('ecdsa-sha2-nistp256', Buffer.concat([sshString('ecdsa-sha2-nistp256'), sshString('nistp256'), sshString(Buffer.concat([Buffer.of(2), Buffer.alloc(32, 1)]))]))],
    ['a security key without its application', line('sk-ssh-ed25519@openssh.com', Buffer.concat([sshString('sk-ssh-ed25519@openssh.com'), sshString(Buffer.alloc(32, 7))]))],
    ['an RSA modulus of 512 bits', line('ssh-rsa', newKeyBlob('ssh-rsa', 512))],
    ['an even RSA exponent', line('ssh-rsa', Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.of(1, 0, 0)), sshMpint(Buffer.alloc(128, 0xc3))]))],
    ['a negative RSA modulus', line('ssh-rsa', Buffer.concat([sshString('ssh-rsa'), sshMpint(Buffer.of(1, 0, 1)), sshString(Buffer.alloc(128, 0xc3))]))],
    ['a non-minimal mpint', line('ssh-rsa', Buffer.concat([sshString('ssh-rsa'), sshString(Buffer.of(0, 1, 0, 1)), sshMpint(Buffer.alloc(128, 0xc3))]))],
  ])('refuses %s', (_name, input) => {
    expect(() => parseSshPublicKey(input)).toThrow(invalid);
  });

  it('refuses every truncation of every captured key (regression: truncated key data was added)', () => {
    for (const text of captured) {
      const [type, data] = text.split(' ');
      const blob = Buffer.from(data!, 'base64');
      for (let len = 0; len < blob.length; len++) {
        expect(() => parseSshPublicKey(line(type!, blob.subarray(0, len))), `${type} cut to ${len} of ${blob.length} bytes`).toThrow(invalid);
      }
    }
  });
});

describe('parsePasswd', () => {
  it('reads name, uid, gid and home; skips comments and malformed lines', () => {
    const text = 'root:x:0:0:root:/root:/bin/bash\n# comment\nbroken:line\nci:x:1001:1002:CI,,,:/home/ci:/bin/sh\n';
    expect(parsePasswd(text)).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root' },
      { name: 'ci', uid: 1001, gid: 1002, home: '/home/ci' },
    ]);
  });
});

// SSH public key validation: what may reach authorized_keys and how an existing line is matched.
import { describe, expect, it } from 'vitest';
import { authorizedKeyLine, lineHasKey, parseSshPublicKey } from '../../src/agent/tasks/ssh-public-key.js';
import { parsePasswd } from '../../src/agent/tasks/passwd.js';

function blob(type: string, extra = Buffer.alloc(32, 7)): string {
  const str = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  return Buffer.concat([str(Buffer.from(type)), str(extra)]).toString('base64');
}

describe('parseSshPublicKey', () => {
  it('accepts every supported type with its embedded type string, and keeps a plain comment', () => {
    for (const t of ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com']) {
      const k = parseSshPublicKey(`  ${t} ${blob(t)}   bob@host  laptop `);
      expect(k.type).toBe(t);
      expect(k.comment).toBe('bob@host laptop');
      expect(authorizedKeyLine(k)).toBe(`${t} ${blob(t)} bob@host laptop`);
    }
  });

  it('computes the fingerprint ssh-keygen prints (SHA256 of the blob, unpadded base64)', () => {
    // Captured from `ssh-keygen -lf` (OpenSSH 9.2) on a file holding this exact key.
    const k = parseSshPublicKey(`ssh-ed25519 ${blob('ssh-ed25519')}`);
    expect(k.fingerprint).toBe('SHA256:gNSIRW+2Iyiuvsdp/bgjy38bvWHw6wQm3tuoXrl3WjQ');
  });

  it.each([
    ['options prefix', `command="/bin/sh" ssh-ed25519 ${blob('ssh-ed25519')}`],
    ['restrict option', `restrict,pty ssh-ed25519 ${blob('ssh-ed25519')}`],
    ['newline', `ssh-ed25519 ${blob('ssh-ed25519')}\nssh-rsa ${blob('ssh-rsa')}`],
    ['carriage return', `ssh-ed25519 ${blob('ssh-ed25519')}\r`],
    ['NUL', `ssh-ed25519 ${blob('ssh-ed25519')}\0`],
    ['unknown type', `ssh-dss ${blob('ssh-dss')}`],
    ['bad base64', 'ssh-ed25519 AAAA$$$$'],
    ['non-canonical padding', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB='],
    ['type mismatch', `ssh-ed25519 ${blob('ssh-rsa')}`],
    ['type only', `ssh-ed25519 ${Buffer.from('\0\0\0\x0bssh-ed25519').toString('base64')}`],
    ['missing data', 'ssh-ed25519'],
    ['control char in comment', `ssh-ed25519 ${blob('ssh-ed25519')} a\u001bb`],
  ])('refuses %s', (_name, input) => {
    expect(() => parseSshPublicKey(input)).toThrow(expect.objectContaining({ code: 'INVALID_SSH_KEY', statusCode: 400 }));
  });
});

describe('lineHasKey', () => {
  const k = parseSshPublicKey(`ssh-ed25519 ${blob('ssh-ed25519')}`);
  it('matches the same key whatever options or comment the line carries', () => {
    expect(lineHasKey(`ssh-ed25519 ${k.base64}`, k)).toBe(true);
    expect(lineHasKey(`from="10.0.0.1" ssh-ed25519 ${k.base64} old comment`, k)).toBe(true);
    expect(lineHasKey(`# ssh-ed25519 ${k.base64}`, k)).toBe(false);
    expect(lineHasKey(`ssh-rsa ${k.base64}`, k)).toBe(false);
    expect(lineHasKey(`ssh-ed25519 ${blob('ssh-ed25519', Buffer.alloc(32, 8))}`, k)).toBe(false);
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

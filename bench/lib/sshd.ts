// A private sshd on loopback with a throwaway key: the SSH baseline light tasks are compared with.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/ports.js';

export interface PrivateSshd {
  port: number;
  /** argv for `ssh ... true`, fresh connection each time. */
  freshArgs(cmd: string): string[];
  /** argv through a ControlMaster connection that stays open. */
  muxArgs(cmd: string): string[];
  stop(): Promise<void>;
}

/** Running private sshds, so an interrupted run can stop them. */
const running = new Set<() => Promise<void>>();

export async function stopAllSshd(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
}

export function sshdAvailable(): boolean {
  return existsSync('/usr/sbin/sshd') && existsSync('/usr/bin/ssh');
}

export async function startSshd(): Promise<PrivateSshd> {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-sshd-'));
  const port = await freePort();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  execFileSync('cp', [join(dir, 'client_key.pub'), join(dir, 'authorized_keys')]);
  mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory sshd insists on
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      'LogLevel ERROR',
    ].join('\n') + '\n',
  );
  const proc: ChildProcess = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: 'ignore' });
  const user = userInfo().username;
  const common = ['-i', join(dir, 'client_key'), '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'BatchMode=yes'];
  const ctl = join(dir, 'ctl.sock');
  const mux = ['-o', 'ControlMaster=auto', '-o', `ControlPath=${ctl}`, '-o', 'ControlPersist=60'];
  // Wait until it answers.
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('ssh', [...common, `${user}@127.0.0.1`, 'true'], { stdio: 'ignore', timeout: 5000 });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stop = async (): Promise<void> => {
    running.delete(stop);
    try {
      execFileSync('ssh', [...common, '-o', `ControlPath=${ctl}`, '-O', 'exit', `${user}@127.0.0.1`], { stdio: 'ignore' });
    } catch {
      /* no master running */
    }
    proc.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  running.add(stop);
  return {
    port,
    freshArgs: (cmd) => [...common, `${user}@127.0.0.1`, cmd],
    muxArgs: (cmd) => [...common, ...mux, `${user}@127.0.0.1`, cmd],
    stop,
  };
}

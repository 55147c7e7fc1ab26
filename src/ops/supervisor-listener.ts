// `httpagent supervisor-listener --config FILE`: a supervisord event listener that mails an alert
// when a program gives up (PROCESS_STATE_FATAL), through the monitor's SMTP settings.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import { createLogger, type Logger } from '../shared/log.js';
import { createAlertMailer, type AlertFn } from './ops-mail.js';
import { loadMailSettings } from './mail-settings.js';

export interface SupervisorEvent {
  /** The header's fields (ver, server, serial, pool, eventname, len...). */
  headers: Record<string, string>;
  /** The payload's first line as fields (processname, groupname, from_state...). */
  payload: Record<string, string>;
  /** Anything after the payload's first line (e.g. PROCESS_LOG data). */
  data: string;
}

/** `a:1 b:2` → { a: '1', b: '2' }: supervisord's token format for headers and payloads. */
export function parseTokens(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tok of line.trim().split(/\s+/)) {
    const i = tok.indexOf(':');
    if (i > 0) out[tok.slice(0, i)] = tok.slice(i + 1);
  }
  return out;
}

/**
 * Speaks the listener protocol: READY, a header line with len:N, N bytes of payload, then
 * `RESULT 2\nOK`. supervisord sends nothing more until it reads the result, so the handler runs one
 * event at a time. The result is always OK: FAIL makes supervisord resend the event, which would turn
 * an SMTP outage into a loop; the failure is logged instead.
 */
export function runEventListener(input: Readable, output: Writable, onEvent: (e: SupervisorEvent) => Promise<void>, logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let header: Record<string, string> | undefined;
    let busy = false;

    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (;;) {
          if (!header) {
            const nl = buf.indexOf(0x0a);
            if (nl < 0) break;
            header = parseTokens(buf.subarray(0, nl).toString('utf8'));
            buf = buf.subarray(nl + 1);
          }
          const len = Number(header.len ?? 0);
          if (buf.length < len) break;
          const body = buf.subarray(0, len).toString('utf8');
          buf = buf.subarray(len);
          const nl = body.indexOf('\n');
          const event: SupervisorEvent = {
            headers: header,
            payload: parseTokens(nl < 0 ? body : body.slice(0, nl)),
            data: nl < 0 ? '' : body.slice(nl + 1),
          };
          header = undefined;
          try {
            await onEvent(event);
          } catch (err) {
            logger.error({ err, event: event.headers.eventname }, 'event handler failed');
          }
          output.write('RESULT 2\nOK');
          output.write('READY\n');
        }
      } finally {
        busy = false;
      }
    };

    input.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      void pump();
    });
    input.on('end', () => resolve());
    output.write('READY\n');
  });
}

/** The alert for one FATAL program: what gave up, where, and what to do. */
export function fatalAlertHandler(alert: AlertFn, logger: Logger, host = hostname()): (e: SupervisorEvent) => Promise<void> {
  return async (e) => {
    if (e.headers.eventname !== 'PROCESS_STATE_FATAL') return;
    const name = e.payload.processname ?? 'unknown';
    const group = e.payload.groupname ?? name;
    logger.error({ program: name, group, from: e.payload.from_state }, 'program entered FATAL');
    await alert(
      `httpagent ${host}: ${group}:${name} is FATAL`,
      `supervisord on ${host} gave up starting ${group}:${name} (it left state ${e.payload.from_state ?? '?'} ` +
        `and exhausted its start retries).\n` +
        // The watchdog starts only httpagent's own programs (supervisor/watchdog.sh).
        (`${group}:${name}`.startsWith('httpagent')
          ? `The cron watchdog starts it again within a minute, then at most once every 10 minutes while it keeps failing. `
          : `It stays down until someone starts it. `) +
        `To start it now: supervisorctl start ${group}:${name}\n` +
        `Look at its log under the install's log/ directory.\n`,
    );
  };
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, strict: true });
  const file = values.config ?? env.HTTPAGENT_CONFIG;
  // stdout belongs to the protocol; logs go to stderr (supervisord's stderr_logfile).
  const logger = createLogger({ name: 'httpagent-supervisor-listener', destination: pino.destination(2) });
  const alert = createAlertMailer(loadMailSettings(file, env, logger), logger);
  await runEventListener(process.stdin, process.stdout, fatalAlertHandler(alert, logger), logger);
  return 0;
}

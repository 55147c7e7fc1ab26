// Groups alert events that happen close together into one mail, and keeps mail that failed to send
// for the next attempt (bounded) so an SMTP hiccup neither loses an incident nor blocks the monitor.
import type { Logger } from '../../shared/log.js';
import type { AlertEvent } from './alert-engine.js';
import { renderAlertMail } from './alert-mail.js';
import type { Mailer } from '../../shared/mailer.js';

export interface Notifier {
  /** Queues events; they are mailed together once `groupMs` has passed since the first of them. */
  push(events: readonly AlertEvent[]): void;
  /** Sends whatever is queued now (on shutdown, and by tests). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Events waiting to be mailed. */
  pending(): number;
}

export interface NotifierOptions {
  host: string;
  groupMs: number;
  mailer: Mailer;
  logger: Logger;
  /** Events kept while SMTP fails; the oldest are dropped past this. */
  maxPending?: number;
  retryMs?: number;
}

export function createNotifier(opts: NotifierOptions): Notifier {
  const max = opts.maxPending ?? 1000;
  let queue: AlertEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  let sending: Promise<void> = Promise.resolve();
  let closed = false;

  const schedule = (ms: number) => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, ms);
  };

  const sendNow = async (): Promise<void> => {
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    const mail = renderAlertMail(opts.host, batch);
    try {
      // Without mail settings the mailer already said the alert was not mailed: no "sent" after it.
      if ((await opts.mailer.send(mail)) === 'sent') opts.logger.info({ subject: mail.subject, events: batch.length }, 'alert mail sent');
    } catch (err) {
      opts.logger.error({ err: (err as Error).message, subject: mail.subject }, 'alert mail failed; will retry');
      queue = [...batch, ...queue].slice(-max);
      schedule(opts.retryMs ?? 30_000);
    }
  };

  // One send at a time, in order: a second flush waits for the first instead of racing it.
  const flush = (): Promise<void> => {
    sending = sending.then(sendNow);
    return sending;
  };

  return {
    push(events) {
      if (events.length === 0) return;
      queue.push(...events);
      if (queue.length > max) queue = queue.slice(-max);
      if (opts.groupMs <= 0) void flush();
      else schedule(opts.groupMs);
    },
    flush() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      return flush();
    },
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await flush();
      closed = true;
    },
    pending: () => queue.length,
  };
}

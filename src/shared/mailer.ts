// Sends plain-text mail over SMTP with nodemailer; without SMTP settings it only logs what it would send.
// The one mail path of a host: the monitor's alerts and the ops alerts both go through it.
import type { Transporter } from 'nodemailer';
import type { Logger } from './log.js';

export interface MailMessage {
  subject: string;
  text: string;
}

/** sent: handed to the SMTP server · not-configured: only logged, there is no smtpUrl or alertTo. */
export type MailOutcome = 'sent' | 'not-configured';

export interface Mailer {
  /** Rejects when SMTP fails; callers tell "sent" from "only logged" by the outcome. */
  send(mail: MailMessage): Promise<MailOutcome>;
  close(): void;
}

export interface MailerOptions {
  smtpUrl?: string | undefined;
  from: string;
  to: readonly string[];
  logger: Logger;
  timeoutMs?: number;
}

export function createMailer(opts: MailerOptions): Mailer {
  if (!opts.smtpUrl || opts.to.length === 0) {
    return {
      async send(mail) {
        opts.logger.warn({ subject: mail.subject }, 'alert not mailed: smtpUrl or alertTo is not set');
        return 'not-configured';
      },
      close() {},
    };
  }
  const t = opts.timeoutMs ?? 10_000;
  const smtpUrl = opts.smtpUrl;
  // nodemailer is loaded on the first mail, not at start: it adds ~14 MB of RSS to a process that
  // idles for weeks between incidents (the idle monitor's budget is 60 MB).
  let transport: Promise<Transporter> | undefined;
  const getTransport = () =>
    (transport ??= import('nodemailer').then((m) =>
      m.createTransport(smtpUrl, { connectionTimeout: t, greetingTimeout: t, socketTimeout: t } as Parameters<typeof m.createTransport>[1]),
    ));
  return {
    async send(mail) {
      const tr = await getTransport();
      await tr.sendMail({ from: opts.from, to: [...opts.to], subject: mail.subject, text: mail.text });
      return 'sent';
    },
    close() {
      void transport?.then((tr) => tr.close()).catch(() => {});
    },
  };
}

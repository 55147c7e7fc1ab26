// Sends alert mail over SMTP with nodemailer; without SMTP settings it only logs what it would send.
import { createTransport, type Transporter } from 'nodemailer';
import type { Logger } from '../../log.js';
import type { AlertMail } from './alert-mail.js';

export interface Mailer {
  send(mail: AlertMail): Promise<void>;
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
      },
      close() {},
    };
  }
  const t = opts.timeoutMs ?? 10_000;
  const transport: Transporter = createTransport(opts.smtpUrl, {
    connectionTimeout: t,
    greetingTimeout: t,
    socketTimeout: t,
  } as Parameters<typeof createTransport>[1]);
  return {
    async send(mail) {
      await transport.sendMail({ from: opts.from, to: [...opts.to], subject: mail.subject, text: mail.text });
    },
    close() {
      transport.close();
    },
  };
}

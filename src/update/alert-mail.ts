// Operations alerts (FATAL programs, failed updates) sent through the monitor's SMTP settings.
import { createTransport } from 'nodemailer';
import type { Logger } from '../log.js';

export interface MailSettings {
  smtpUrl?: string | undefined;
  alertTo: string[];
  alertFrom: string;
}

export type AlertFn = (subject: string, text: string) => Promise<void>;

/** Without an SMTP URL or recipients the alert is only logged: a missing mail setup must not crash ops code. */
export function createAlertMailer(settings: MailSettings, logger: Logger): AlertFn {
  return async (subject, text) => {
    if (!settings.smtpUrl || settings.alertTo.length === 0) {
      logger.warn({ subject }, 'alert not mailed: no smtpUrl or alertTo configured');
      return;
    }
    const transport = createTransport(settings.smtpUrl);
    try {
      await transport.sendMail({ from: settings.alertFrom, to: settings.alertTo.join(', '), subject, text });
      logger.info({ subject, to: settings.alertTo }, 'alert mailed');
    } finally {
      transport.close();
    }
  };
}

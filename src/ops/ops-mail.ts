// Operations alerts (FATAL programs, failed updates) sent through the host's one mailer and SMTP
// settings, so there is one mail path on a host.
import type { Logger } from '../shared/log.js';
import { createMailer } from '../shared/mailer.js';

export interface MailSettings {
  smtpUrl?: string | undefined;
  alertTo: string[];
  alertFrom: string;
}

export type AlertFn = (subject: string, text: string) => Promise<void>;

/**
 * Without an SMTP URL or recipients the alert is only logged (the monitor's mailer does that): a
 * missing mail setup must not crash ops code. Alerts are rare, so each one opens and closes its
 * own transport instead of keeping a connection (and nodemailer) around.
 */
export function createAlertMailer(settings: MailSettings, logger: Logger): AlertFn {
  return async (subject, text) => {
    const mailer = createMailer({ smtpUrl: settings.smtpUrl, from: settings.alertFrom, to: settings.alertTo, logger });
    try {
      if ((await mailer.send({ subject, text })) === 'sent') logger.info({ subject, to: settings.alertTo }, 'alert mailed');
    } finally {
      mailer.close();
    }
  };
}

// The monitor's SMTP settings, read from the shared config file and environment by ops commands
// (the FATAL listener, the update guard) and by the agent for update alerts.
import { loadConfig, monitorConfigSchema, allConfigKeys, isNonSettingEnv } from '../shared/config/index.js';
import type { Logger } from '../shared/log.js';
import type { MailSettings } from './ops-mail.js';

/** Falls back to "no mail" when the monitor's part of the config does not load: alerts are then only logged. */
export function loadMailSettings(file: string | undefined, env: Record<string, string | undefined>, logger?: Logger): MailSettings {
  try {
    const m = loadConfig(monitorConfigSchema, { file, env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv });
    return { smtpUrl: m.smtpUrl, alertTo: m.alertTo, alertFrom: m.alertFrom };
  } catch (err) {
    logger?.warn({ code: (err as { code?: string }).code, reason: (err as Error).message }, 'mail settings not loaded; alerts are only logged');
    return { smtpUrl: undefined, alertTo: [], alertFrom: 'httpagent@localhost' };
  }
}

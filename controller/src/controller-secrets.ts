// The controller's secrets as it uses them, read once at start: the enrollment tokens (setting and file)
// and the port-token signing keys. A weak or reused token stops the start with one line (exit 2).
import { readFileSync } from 'node:fs';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import { strongTokenField } from '../../src/shared/config/fields.js';
import { ConfigError } from '../../src/shared/errors.js';
import { parseSigningKeys, type SigningKey } from './port-tokens.js';

export interface ControllerSecrets {
  enrollTokens: string[];
  /** Empty when signingKeyFile is unset: no port tokens, agents get no portKeys. */
  signingKeys: SigningKey[];
}

type SecretSettings = Pick<ControllerConfig, 'platformToken' | 'enrollToken' | 'enrollTokenFile' | 'signingKeyFile'> & Partial<Pick<ControllerConfig, 'viewerToken'>>;

function readSecretFile(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${setting}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/** Throws ConfigError naming the setting (never the secret) when a rule is broken. */
export function loadControllerSecrets(config: SecretSettings): ControllerSecrets {
  const enrollTokens = [...config.enrollToken];
  if (config.enrollTokenFile) {
    const where = 'enrollTokenFile (HTTPAGENT_ENROLL_TOKEN_FILE)';
    const fromFile = readSecretFile(config.enrollTokenFile, where)
      .split(/[\s,]+/)
      .filter((t) => t.length > 0);
    if (fromFile.length === 0) throw new ConfigError(`${where}: ${config.enrollTokenFile} holds no token`);
    fromFile.forEach((t, i) => {
      const r = strongTokenField().safeParse(t);
      if (!r.success) throw new ConfigError(`${where}: token ${i + 1} in ${config.enrollTokenFile}: ${r.error.issues[0]!.message}`);
    });
    enrollTokens.push(...fromFile);
  }
  // One secret per role: a leaked enrollment token (it travels to every new host) must not open the platform API.
  if (enrollTokens.includes(config.platformToken)) {
    throw new ConfigError('platformToken (HTTPAGENT_PLATFORM_TOKEN) equals an enrollment token: give each role its own secret');
  }
  // The viewer token signs in read-only: equal to a token that can act, it would hide which one a page holds.
  if (config.viewerToken !== undefined && (config.viewerToken === config.platformToken || enrollTokens.includes(config.viewerToken))) {
    throw new ConfigError('viewerToken (HTTPAGENT_VIEWER_TOKEN) equals the platform token or an enrollment token: give each role its own secret');
  }
  const signingKeys = config.signingKeyFile
    ? parseSigningKeys(readSecretFile(config.signingKeyFile, 'signingKeyFile (HTTPAGENT_SIGNING_KEY_FILE)'), `signingKeyFile (HTTPAGENT_SIGNING_KEY_FILE) ${config.signingKeyFile}`)
    : [];
  return { enrollTokens: [...new Set(enrollTokens)], signingKeys };
}

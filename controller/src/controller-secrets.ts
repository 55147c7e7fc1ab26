// The controller's secrets as it uses them, read once at start: the enrollment tokens (setting and file),
// the port-token signing keys and the S3 release store's access key. A weak or reused token, or a key file
// others can read, stops the start with one line (exit 2).
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import { strongTokenField } from '../../src/shared/config/fields.js';
import { ConfigError } from '../../src/shared/errors.js';
import { parseSigningKeys, type SigningKey } from './port-tokens.js';

export interface ControllerSecrets {
  enrollTokens: string[];
  /** Empty when signingKeyFile is unset: no port tokens, agents get no portKeys. */
  signingKeys: SigningKey[];
  /** The S3 release store's access key; undefined when releaseS3CredentialsFile is unset. */
  releaseS3?: S3Credentials | undefined;
}

export interface S3Credentials {
  accessKeyId: string;
  /** Never logged, never in a message. */
  secretAccessKey: string;
}

type SecretSettings = Pick<ControllerConfig, 'platformToken' | 'enrollToken' | 'enrollTokenFile' | 'signingKeyFile'> &
  Partial<Pick<ControllerConfig, 'viewerToken' | 'releaseS3CredentialsFile'>>;

const S3_KEYS = 'releaseS3CredentialsFile (HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE)';
const accessKeyPart = z.string().regex(/^[\x21-\x7e]{1,256}$/);
const s3CredentialsJson = z.strictObject({ accessKeyId: accessKeyPart, secretAccessKey: accessKeyPart });

/**
 * The access key from its file: JSON {"accessKeyId", "secretAccessKey"}, or the two on two lines. Refused
 * when group or others may read or write it (as the agent's credential file is): the key opens the bucket
 * every host's release comes from. Messages say what is wrong, never what the file holds.
 */
export function readS3Credentials(path: string): S3Credentials {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ConfigError(`${S3_KEYS}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let text: string;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${S3_KEYS}: ${path} is not a regular file`);
    if ((st.mode & 0o077) !== 0) throw new ConfigError(`${S3_KEYS}: ${path} is readable or writable by group or others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`);
    text = readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
  let candidate: unknown;
  if (text.startsWith('{')) {
    try {
      candidate = JSON.parse(text);
    } catch {
      candidate = undefined;
    }
  } else {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
    if (lines.length === 2) candidate = { accessKeyId: lines[0], secretAccessKey: lines[1] };
  }
  const parsed = s3CredentialsJson.safeParse(candidate);
  if (!parsed.success) {
    throw new ConfigError(`${S3_KEYS}: ${path} does not hold an access key: expected JSON {"accessKeyId": "…", "secretAccessKey": "…"} or the two on two lines`);
  }
  return parsed.data;
}

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
  const releaseS3 = config.releaseS3CredentialsFile ? readS3Credentials(config.releaseS3CredentialsFile) : undefined;
  return { enrollTokens: [...new Set(enrollTokens)], signingKeys, releaseS3 };
}

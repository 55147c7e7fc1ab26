// Field builders shared by the per-process config schemas. Every field accepts the typed value
// (from a YAML/JSON file) and its string form (from an HTTPAGENT_* variable).
import { Cron } from 'croner';
import { z } from 'zod';

function fromString<T extends z.ZodType>(parse: (raw: string) => unknown, schema: T) {
  return z.preprocess((v) => (typeof v === 'string' ? parse(v) : v), schema);
}

export const intField = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  fromString((s) => (/^-?\d+$/.test(s.trim()) ? Number(s) : s), z.number().int().min(min).max(max));

export const boolField = () =>
  fromString((s) => {
    const v = s.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
    return s;
  }, z.boolean());

/** Comma-separated in the environment, an array in a file. */
export const listField = (item: z.ZodType<string> = z.string().min(1)) =>
  fromString(
    (s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    z.array(item),
  );

const labelKey = z.string().regex(/^[A-Za-z0-9_.\/-]{1,63}$/, 'label keys are 1-63 of [A-Za-z0-9_./-]');
const labelValue = z.string().regex(/^[A-Za-z0-9_.\/:-]{0,128}$/, 'label values are 0-128 of [A-Za-z0-9_./:-]');
export const labelsSchema = z.record(labelKey, labelValue);

/** Parses `k=v,k=v` into a map; anything malformed is left for zod to reject with a clear message. */
export function parseLabels(s: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const part of s.split(',').map((x) => x.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) return s;
    out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** `k=v,k=v` in the environment, a map in a file. */
export const labelsField = () => fromString(parseLabels, labelsSchema);

export const listenSchema = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:9889');

export interface ListenAddress {
  host: string;
  port: number;
}

export function parseListen(s: string): ListenAddress {
  const idx = s.lastIndexOf(':');
  const host = s.slice(0, idx).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(s.slice(idx + 1)) };
}

/** A URL as it may be printed: the password (and a user with no password) replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password && !u.username) return url;
    if (u.password) u.password = '***';
    else u.username = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** An IANA time zone the runtime knows (`Europe/Berlin`); a typo (`Europe/Berlim`) is refused at load. */
export const timezoneField = () =>
  z.string().refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'expected an IANA time zone such as Europe/Berlin or UTC');

/** A croner pattern (5 or 6 fields, or a nickname such as @daily), parsed at load rather than when first due. */
export const cronField = () =>
  z
    .string()
    .min(1)
    .superRefine((pattern, ctx) => {
      try {
        new Cron(pattern, { paused: true }).stop();
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a cron pattern: ${(err as Error).message}` });
      }
    });

export const urlField = () => z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
export const redisUrlField = () => z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' });

/** Bearer tokens: long enough to resist guessing, printable so they survive headers and env files. */
export const tokenField = () =>
  z.string().regex(/^[\x21-\x7e]{16,512}$/, 'expected a token of 16-512 printable characters without spaces');

/**
 * A token the controller accepts from others (platform, enrollment): at least 24 characters and not one
 * character repeated, so a placeholder (`changeme`, `xxxxxxxx...`) or a short guessable token refuses to
 * start instead of guarding the fleet.
 */
export const strongTokenField = () =>
  z
    .string()
    .regex(/^[\x21-\x7e]{24,512}$/, 'expected a token of 24-512 printable characters without spaces')
    .refine((s) => !/^(.)\1*$/.test(s), 'a token of one repeated character is a placeholder, not a secret');

/** JSON in the environment, structured in a file (for lists of objects such as schedules). */
export const jsonField = <T extends z.ZodType>(schema: T) =>
  fromString((s) => {
    try {
      return JSON.parse(s) as unknown;
    } catch {
      return s;
    }
  }, schema);

export const logLevelField = () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

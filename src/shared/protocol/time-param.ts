// A point in time in a query string (`since`, `until`): an ISO 8601 time or milliseconds since the
// epoch, read as milliseconds. Seconds are refused rather than read as a date in January 1970.
import { z } from 'zod';

/**
 * The smallest value read as milliseconds: 1e11 ms is March 1973, while 1e11 *seconds* is the year 5138,
 * so a number below it can only be seconds (`date +%s`) sent by mistake.
 */
export const MIN_EPOCH_MS = 100_000_000_000;

/** An ISO 8601 date or date-time (`2026-01-31`, `2026-01-31T12:00:00Z`, with an offset or fraction). */
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The reading of one value: milliseconds, or why it is refused. */
export function parseTimeParam(raw: string): { ms: number } | { error: string } {
  const s = raw.trim();
  if (/^\d{1,16}$/.test(s)) {
    const n = Number(s);
    if (n < MIN_EPOCH_MS) return { error: `${s} looks like seconds since the epoch; send milliseconds (${s}000) or an ISO 8601 time` };
    return { ms: n };
  }
  if (ISO.test(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return { ms };
  }
  return { error: `expected an ISO 8601 time (2026-01-31T12:00:00Z) or milliseconds since the epoch, got "${s.slice(0, 40)}"` };
}

/** The query field: a string in, milliseconds out, a 400 naming the field for anything else. */
export const timeParamSchema = z
  .string()
  .transform((s, ctx) => {
    const r = parseTimeParam(s);
    if ('ms' in r) return r.ms;
    ctx.addIssue({ code: 'custom', message: r.error });
    return z.NEVER;
  })
  .meta({ description: 'ISO 8601 time or milliseconds since the epoch (values below 1e11 are taken for seconds and refused)', examples: ['2026-01-31T12:00:00Z', '1769860800000'] });

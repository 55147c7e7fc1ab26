// Turning a zod failure into one 400 that names the offending fields, e.g.
// `unknown field "foo"; timeoutSec: Too big: expected number to be <=86400`.
import type { z } from 'zod';
import { ValidationError } from '../errors.js';

function describe(issue: z.core.$ZodIssue): { path: string; code: string; message: string } {
  const path = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const where = path ? ` in ${path}` : '';
    const names = issue.keys.map((k) => `"${k}"`).join(', ');
    return { path, code: issue.code, message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${names}${where}` };
  }
  return { path, code: issue.code, message: `${path || '(body)'}: ${issue.message}` };
}

/** Parses `input` or throws ValidationError (400 BAD_REQUEST) listing every issue. */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, what = 'request body'): z.output<S> {
  const r = schema.safeParse(input ?? undefined);
  if (r.success) return r.data;
  const issues = r.error.issues.slice(0, 20).map(describe);
  throw new ValidationError(`invalid ${what}: ${issues.map((i) => i.message).join('; ')}`, { details: { issues } });
}

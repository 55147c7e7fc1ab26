// Request input checked with zod, and the one shape of a 400 BAD_REQUEST on every server:
// {"error":{"code":"BAD_REQUEST","message":"invalid body: unknown field \"prioirty\"","issues":[{path,code,message}]}}.
// Each issue's path names the field inside the part checked; the message lists the issues, first field first.
import type { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../errors.js';

/** Which part of the request was checked: the message says so, the paths are relative to it. */
export type InputPart = 'body' | 'query' | 'params';

const MAX_ISSUES = 20;

/** One issue; the message names the field (`steps.0.task: ...`) unless it is the whole part. */
export function inputIssue(path: string, code: string, text: string): ValidationIssue {
  return { path, code, message: path ? `${path}: ${text}` : text };
}

/** The 400 for `issues` found in `part`. */
export function invalidInput(part: InputPart, issues: ValidationIssue[]): ValidationError {
  const listed = issues.slice(0, MAX_ISSUES);
  return new ValidationError(`invalid ${part}: ${listed.map((i) => i.message).join('; ')}`, listed);
}

function describe(issue: z.core.$ZodIssue, base: readonly PropertyKey[]): ValidationIssue[] {
  const at = [...base, ...issue.path];
  const join = (p: readonly PropertyKey[]) => p.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    // One issue per key, its path naming the key itself: the caller sees exactly which field to drop.
    return issue.keys.map((k) => ({ path: join([...at, k]), code: issue.code, message: `unknown field "${join([...at, k])}"` }));
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    // The accepted form the input came closest to explains the mistake better than "no form matched".
    const closest = issue.errors.reduce((a, b) => (b.length < a.length ? b : a));
    if (closest.length > 0) return closest.flatMap((i) => describe(i, at));
  }
  const text = issue.code === 'invalid_union' ? 'does not match any accepted form' : issue.message;
  return [inputIssue(join(at), issue.code, text)];
}

/**
 * Parses `input` or throws ValidationError (400 BAD_REQUEST) listing its issues. `at` prefixes every
 * path, for an item checked on its own (the 4th job of a batch: `[3]`).
 */
export function parseOr400<S extends z.ZodType>(schema: S, input: unknown, part: InputPart = 'body', at: readonly PropertyKey[] = []): z.output<S> {
  const r = schema.safeParse(input ?? undefined);
  if (r.success) return r.data;
  throw invalidInput(part, r.error.issues.flatMap((i) => describe(i, at)));
}

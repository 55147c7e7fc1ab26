// Validates request input with zod and turns the first issue into a ValidationError naming the field.
import type { z } from 'zod';
import { ValidationError } from '../../../src/shared/errors.js';

export function validate<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.map((k) => [where, ...path, k].join('.'));
    throw new ValidationError(`unknown field${names.length > 1 ? 's' : ''} ${names.map((n) => `"${n}"`).join(', ')}`, {
      details: { field: names[0] },
    });
  }
  const field = [where, ...path].join('.');
  const message = issue.code === 'invalid_union' ? 'does not match any accepted form' : issue.message;
  throw new ValidationError(`${field}: ${message}`, { details: { field } });
}

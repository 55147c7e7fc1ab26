// A small OpenAPI 3.1 checker for the tests (no validator package is installed, and one is not worth a
// dependency): the document's structure, and a JSON Schema validator for the subset z.toJSONSchema
// emits. An unknown schema keyword fails loudly rather than passing unchecked.

type Json = any;

const METHODS = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
const WHERE = new Set(['query', 'header', 'path', 'cookie']);
const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
/** Keywords that only describe: nothing to check. */
const ANNOTATIONS = new Set(['description', 'default', 'examples', 'example', 'title', 'format', 'contentMediaType', 'deprecated', 'readOnly', 'writeOnly', '$comment']);

/** Every structural problem found in `doc`, as readable strings; [] when it is well formed. */
export function openApiProblems(doc: Json): string[] {
  const problems: string[] = [];
  const bad = (where: string, what: string) => problems.push(`${where}: ${what}`);
  if (typeof doc?.openapi !== 'string' || !/^3\.1\.\d+$/.test(doc.openapi)) bad('openapi', 'expected "3.1.x"');
  if (typeof doc?.info?.title !== 'string' || typeof doc?.info?.version !== 'string') bad('info', 'title and version are required strings');
  const schemes = Object.keys(doc?.components?.securitySchemes ?? {});
  const checkSecurity = (where: string, sec: Json) => {
    if (sec === undefined) return;
    if (!Array.isArray(sec)) return bad(where, 'security must be an array');
    for (const req of sec) for (const name of Object.keys(req)) if (!schemes.includes(name)) bad(where, `security scheme "${name}" is not in components.securitySchemes`);
  };
  checkSecurity('security', doc?.security);
  if (typeof doc?.paths !== 'object' || doc.paths === null) {
    bad('paths', 'required object');
    return problems;
  }
  const ids = new Set<string>();
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    if (!path.startsWith('/')) bad(path, 'a path starts with /');
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    for (const [method, op] of Object.entries<Json>(item)) {
      const at = `${method.toUpperCase()} ${path}`;
      if (!METHODS.has(method)) {
        bad(at, 'not an HTTP method');
        continue;
      }
      if (typeof op.operationId !== 'string') bad(at, 'operationId missing');
      else if (ids.has(op.operationId)) bad(at, `operationId ${op.operationId} used twice`);
      else ids.add(op.operationId);
      checkSecurity(at, op.security);
      const seen = new Set<string>();
      for (const p of op.parameters ?? []) {
        if (typeof p.name !== 'string' || !WHERE.has(p.in)) bad(at, `parameter ${JSON.stringify(p)} needs a name and a valid "in"`);
        if (seen.has(`${p.in}:${p.name}`)) bad(at, `parameter ${p.name} (${p.in}) twice`);
        seen.add(`${p.in}:${p.name}`);
        if (p.in === 'path' && p.required !== true) bad(at, `path parameter ${p.name} must be required`);
        if (p.in === 'path' && !templated.includes(p.name)) bad(at, `path parameter ${p.name} is not in the path`);
        schemaProblems(p.schema, `${at} parameter ${p.name}`, problems);
      }
      for (const t of templated) if (!seen.has(`path:${t}`)) bad(at, `{${t}} has no path parameter`);
      if (op.requestBody) {
        const content = op.requestBody.content;
        if (!content || Object.keys(content).length === 0) bad(at, 'requestBody needs content');
        for (const [type, media] of Object.entries<Json>(content ?? {})) schemaProblems(media.schema, `${at} body ${type}`, problems);
      }
      const responses = Object.entries<Json>(op.responses ?? {});
      if (responses.length === 0) bad(at, 'no responses');
      if (!responses.some(([s]) => /^2\d\d$/.test(s))) bad(at, 'no 2xx response');
      for (const [status, r] of responses) {
        if (!/^[1-5]\d\d$|^default$/.test(status)) bad(at, `response key ${status} is not a status`);
        if (typeof r.description !== 'string') bad(`${at} ${status}`, 'description is required');
        for (const [type, media] of Object.entries<Json>(r.content ?? {})) schemaProblems(media.schema, `${at} ${status} ${type}`, problems);
      }
    }
  }
  return problems;
}

/** Problems in a schema itself (unknown keyword, impossible type). */
function schemaProblems(s: Json, at: string, out: string[]): void {
  if (s === undefined || s === true || s === false) return;
  if (typeof s !== 'object' || s === null) return void out.push(`${at}: a schema is an object or a boolean`);
  for (const e of validate(s, undefined, at, true)) out.push(e);
}

/**
 * Errors of `value` against `schema` (JSON Schema 2020-12, the subset zod emits). With `shapeOnly`
 * only the schema's own keywords are checked (no value).
 */
export function validate(schema: Json, value: Json, at = '$', shapeOnly = false): string[] {
  if (schema === true || schema === undefined) return [];
  if (schema === false) return shapeOnly ? [] : [`${at}: no value is allowed here`];
  const errors: string[] = [];
  const err = (m: string) => errors.push(`${at}: ${m}`);
  for (const key of Object.keys(schema)) {
    if (ANNOTATIONS.has(key)) continue;
    if (!KEYWORDS.has(key)) return [`${at}: unsupported schema keyword "${key}"`];
  }
  if (schema.type !== undefined) for (const t of [schema.type].flat()) if (!TYPES.has(t)) err(`unknown type ${t}`);
  if (shapeOnly) {
    for (const k of ['anyOf', 'oneOf', 'allOf']) for (const [i, sub] of (schema[k] ?? []).entries()) errors.push(...validate(sub, undefined, `${at}.${k}[${i}]`, true));
    for (const [k, sub] of Object.entries<Json>(schema.properties ?? {})) errors.push(...validate(sub, undefined, `${at}.${k}`, true));
    if (typeof schema.items === 'object') errors.push(...validate(schema.items, undefined, `${at}[]`, true));
    if (typeof schema.additionalProperties === 'object') errors.push(...validate(schema.additionalProperties, undefined, `${at}.*`, true));
    return errors;
  }
  const typeOf = (v: Json) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);
  if (schema.type !== undefined) {
    const allowed = [schema.type].flat();
    const t = typeOf(value);
    if (!allowed.includes(t) && !(t === 'integer' && allowed.includes('number'))) return [`${at}: expected ${allowed.join('|')}, got ${t}`];
  }
  if (schema.const !== undefined && JSON.stringify(value) !== JSON.stringify(schema.const)) err(`expected ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.some((e: Json) => JSON.stringify(e) === JSON.stringify(value))) err(`${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) err(`shorter than ${schema.minLength}`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) err(`longer than ${schema.maxLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) err(`does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) err(`below ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) err(`above ${schema.maximum}`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) err(`not above ${schema.exclusiveMinimum}`);
    if (schema.exclusiveMaximum !== undefined && value >= schema.exclusiveMaximum) err(`not below ${schema.exclusiveMaximum}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) err(`fewer than ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) err(`more than ${schema.maxItems} items`);
    if (schema.items !== undefined) value.forEach((v, i) => errors.push(...validate(schema.items, v, `${at}[${i}]`)));
  }
  if (typeOf(value) === 'object') {
    for (const r of schema.required ?? []) if (!(r in value)) err(`missing "${r}"`);
    for (const [k, v] of Object.entries<Json>(value)) {
      if (schema.propertyNames) errors.push(...validate(schema.propertyNames, k, `${at} key ${k}`));
      if (schema.properties && k in schema.properties) errors.push(...validate(schema.properties[k], v, `${at}.${k}`));
      else if (schema.additionalProperties === false) err(`unexpected field "${k}"`);
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(schema.additionalProperties, v, `${at}.${k}`));
    }
  }
  if (schema.allOf) for (const sub of schema.allOf) errors.push(...validate(sub, value, at));
  if (schema.anyOf && !schema.anyOf.some((sub: Json) => validate(sub, value, at).length === 0)) err(`matches none of anyOf: ${schema.anyOf.map((sub: Json) => validate(sub, value, at)[0]).join(' / ')}`);
  if (schema.oneOf && schema.oneOf.filter((sub: Json) => validate(sub, value, at).length === 0).length !== 1) err('matches not exactly one of oneOf');
  return errors;
}

const KEYWORDS = new Set([
  'type', 'const', 'enum', 'properties', 'required', 'additionalProperties', 'propertyNames', 'items', 'minItems', 'maxItems',
  'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'anyOf', 'oneOf', 'allOf',
]);

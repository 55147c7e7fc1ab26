// The error registry (src/shared/error-codes.ts) against what uses it: the generated docs, every code a
// throw site spells (belt and braces with the type check), the statuses the classes take, the exit policy.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS_DOC, renderErrorsDoc } from '../../docs/generate-errors.js';
import { ControllerError } from '../../src/shared/client/controller-http.js';
import { errorCodes, EXIT, exitStatusFor, isErrorCode } from '../../src/shared/error-codes.js';
import { ConfigError, HttpAgentError, NotFoundError, OverloadedError, StaleEpochError, UnauthorizedError, UpstreamError, UsageError, ValidationError } from '../../src/shared/errors.js';
import { repoRoot } from '../helpers/processes.js';

function sources(dir: string): { file: string; text: string }[] {
  return readdirSync(join(repoRoot, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && (e.name.endsWith('.ts') || e.name.endsWith('.js')))
    .map((e) => {
      const file = join(e.parentPath, e.name);
      return { file: file.slice(repoRoot.length), text: readFileSync(file, 'utf8') };
    });
}

const code = "'([A-Z][A-Z0-9_]*)'";
/** A code literal handed to an error: `new SomethingError('CODE'`, `super('CODE'`, a class's `code: 'CODE'` union member. */
const SITES = [new RegExp(`new [A-Z]\\w*Error\\(\\s*${code}`, 'g'), new RegExp(`\\bsuper\\(\\s*${code}`, 'g'), new RegExp(`CodeOf<('[^>]+)>`, 'g')];

describe('the error registry', () => {
  const files = [...sources('src'), ...sources('controller/src')];

  it('docs/errors.md is what `npm run docs:errors` writes from it', () => {
    expect(readFileSync(ERRORS_DOC, 'utf8'), 'docs/errors.md is stale: run npm run docs:errors').toBe(renderErrorsDoc());
  });

  it('holds every code a throw site in src/ or controller/src spells', () => {
    const seen: string[] = [];
    const unregistered: string[] = [];
    for (const { file, text } of files) {
      for (const re of SITES) {
        for (const m of text.matchAll(re)) {
          const codes = m[1]!.startsWith("'") ? [...m[1]!.matchAll(/'([A-Z0-9_]+)'/g)].map((x) => x[1]!) : [m[1]!];
          for (const c of codes) {
            seen.push(c);
            if (!isErrorCode(c)) unregistered.push(`${file}: ${c}`);
          }
        }
      }
    }
    expect(unregistered).toEqual([]);
    // The scan itself must be finding the throw sites, or the check above proves nothing.
    expect(seen.length).toBeGreaterThan(40);
    expect(seen).toEqual(expect.arrayContaining(['JOB_NOT_FOUND', 'USER_NOT_FOUND', 'JACOCO_TIMEOUT', 'LOG_INCOMPLETE', 'UPDATE_SELF_TEST_FAILED']));
  });

  it('has no dead entries: each code is spelled somewhere besides the registry', () => {
    const elsewhere = files.filter((f) => !f.file.endsWith('error-codes.ts')).map((f) => f.text).join('\n');
    const dead = Object.keys(errorCodes).filter((c) => !elsewhere.includes(`'${c}'`));
    expect(dead).toEqual([]);
  });

  it('gives each error class its status and retryability from the registry', () => {
    const cases: [HttpAgentError, string, number, boolean][] = [
      [new ValidationError('x'), 'BAD_REQUEST', 400, false],
      [new UnauthorizedError(), 'UNAUTHORIZED', 401, false],
      [new NotFoundError('JOB_NOT_FOUND', 'x'), 'JOB_NOT_FOUND', 404, false],
      [new StaleEpochError(), 'STALE_EPOCH', 409, false],
      [new OverloadedError('x', 3), 'OVERLOADED', 429, true],
      [new UpstreamError('CONTROLLER_UNREACHABLE', 'x'), 'CONTROLLER_UNREACHABLE', 502, true],
      [new UpstreamError('JACOCO_TIMEOUT', 'x'), 'JACOCO_TIMEOUT', 502, true],
      [new HttpAgentError('LOG_OFFSET_GAP', 'x'), 'LOG_OFFSET_GAP', 416, false],
      [new HttpAgentError('REDIS_UNAVAILABLE', 'x'), 'REDIS_UNAVAILABLE', 503, true],
      // Never sent over HTTP: a 500 if one ever reaches a reply.
      [new ConfigError('x'), 'CONFIG_INVALID', 500, false],
    ];
    for (const [err, c, status, retryable] of cases) expect([err.code, err.statusCode, err.retryable], c).toEqual([c, status, retryable]);
    expect(new OverloadedError('x', 3).retryAfterSec).toBe(3);
  });

  it("keeps a received code and its status as the peer sent them, even one it does not register", () => {
    const e = new ControllerError('HTTP_503', 'proxy page', 503);
    expect([e.code, e.statusCode, e.retryable]).toEqual(['HTTP_503', 503, true]);
    const gap = new ControllerError('LOG_OFFSET_GAP', 'x', 416, { expected: 12 });
    expect([gap.code, gap.statusCode, gap.details]).toEqual(['LOG_OFFSET_GAP', 416, { expected: 12 }]);
  });

  it('one exit policy: a bad setting or bad arguments exit 2, anything else 1', () => {
    expect(exitStatusFor(new ConfigError('x'))).toBe(EXIT.usage);
    expect(exitStatusFor(new UsageError('x'))).toBe(EXIT.usage);
    expect(EXIT.usage).toBe(2);
    const parseArgsError = Object.assign(new TypeError("Unknown option '--nope'"), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
    expect(exitStatusFor(parseArgsError)).toBe(2);
    expect(exitStatusFor(new Error('boom'))).toBe(1);
    expect(exitStatusFor(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(1);
    expect(exitStatusFor(new StaleEpochError())).toBe(1);
    expect(exitStatusFor(undefined)).toBe(1);
  });

  it('describes every code in one line with a status only where it travels over HTTP', () => {
    for (const [c, spec] of Object.entries(errorCodes)) {
      expect(spec.meaning, c).not.toMatch(/\n/);
      const http = (spec as { http?: number }).http;
      if (http !== undefined) expect(http >= 400 && http < 600, c).toBe(true);
    }
  });
});

// Redis Cluster safety of a Lua script, read from its text: every key a `redis.call` touches must be one
// of the script's KEYS, or be built by appending to a KEYS entry its header declares a prefix (so the key
// starts with the prefix's {hash tag} and lands in the same slot). Keys are followed through locals,
// function parameters (every call site's argument), table constructors and `t[i] = ...` stores. Names
// are not scoped: every definition of a name counts, which can only over-report.
import type { DeclaredKey } from './lua-header.js';
import { ExprParser, isName, isOp, tokenize, type Expr, type Token } from './lua-syntax.js';

/** Which arguments of each Redis command the scripts may use are keys (1 = the first after the name). */
const KEY_ARGS: Record<string, number[] | 'all'> = {
  APPEND: [1], DEL: 'all', EXISTS: 'all', EXPIRE: [1], GET: [1], HDEL: [1], HGET: [1], HGETALL: [1], HINCRBY: [1],
  HLEN: [1], HMGET: [1], HSET: [1], INCR: [1], INCRBY: [1], LINDEX: [1], LLEN: [1], LRANGE: [1], LSET: [1],
  LTRIM: [1], PEXPIRE: [1], PTTL: [1], PUBLISH: [], RPUSH: [1], SADD: [1], SET: [1], SMEMBERS: [1],
  SRANDMEMBER: [1], SREM: [1], STRLEN: [1], TIME: [], TYPE: [1], XADD: [1],
  ZADD: [1], ZCARD: [1], ZCOUNT: [1], ZRANGE: [1], ZRANGEBYSCORE: [1], ZREM: [1], ZREMRANGEBYRANK: [1], ZREMRANGEBYSCORE: [1], ZSCORE: [1],
};

/** Where a key expression's value comes from. */
type Origin =
  | { kind: 'key'; n: number }
  /** Built by appending to KEYS[n]; `literal`: the string appended first, when it is one. */
  | { kind: 'derived'; n: number; literal?: string | undefined }
  | { kind: 'unknown'; why: string };

export interface KeyUse {
  line: number;
  command: string;
  expr: string;
  origins: Origin[];
}

/** Every definition the audit can see in a script: locals, globals, parameters, table stores. */
interface Definitions {
  /** name → the expressions assigned to it (undefined: a value the audit cannot follow). */
  values: Map<string, (Expr | undefined)[]>;
  /** table name → expressions stored with `t[...] = e` */
  stores: Map<string, Expr[]>;
  /** function name → its parameter names */
  params: Map<string, string[]>;
}

function collectDefinitions(tokens: Token[]): Definitions {
  const values = new Map<string, (Expr | undefined)[]>();
  const stores = new Map<string, Expr[]>();
  const params = new Map<string, string[]>();
  const define = (name: string, e: Expr | undefined) => values.set(name, [...(values.get(name) ?? []), e]);
  // Brackets open around each token: `name = e` inside braces is a table field, not an assignment.
  const open: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (isOp(t, '(') || isOp(t, '[') || isOp(t, '{')) open.push(t.value);
    if (isOp(t, ')') || isOp(t, ']') || isOp(t, '}')) open.pop();

    if (t.kind === 'name' && t.value === 'function') {
      // `local function f(a, b)` / `function f(a, b)`: parameters are defined at the call sites.
      const name = isName(tokens[i + 1]) && isOp(tokens[i + 2], '(') ? tokens[i + 1]!.value : undefined;
      const start = name ? i + 3 : i + 2;
      const list: string[] = [];
      for (let j = start; !isOp(tokens[j], ')'); j++) if (isName(tokens[j])) list.push(tokens[j]!.value);
      if (name) params.set(name, list);
      else for (const p of list) define(p, undefined);
    }

    if (t.kind === 'name' && t.value === 'for') {
      // `for k, v in ...`: loop variables come from an iterator the audit does not follow.
      let j = i + 1;
      const names: string[] = [];
      while (isName(tokens[j])) {
        names.push(tokens[j]!.value);
        j += isOp(tokens[j + 1], ',') ? 2 : 1;
      }
      if (tokens[j]?.kind === 'name' && tokens[j]!.value === 'in') for (const n of names) define(n, undefined);
    }

    if (isOp(t, '=') && open.at(-1) !== '{') {
      // Walk back over the targets: `a, b =`, `local a, b =`, `t[k] =`.
      const targets: ({ name: string } | { store: string } | undefined)[] = [];
      let j = i - 1;
      for (;;) {
        if (isOp(tokens[j], ']')) {
          let depth = 0;
          do {
            if (isOp(tokens[j], ']')) depth++;
            if (isOp(tokens[j], '[')) depth--;
            j--;
          } while (depth > 0);
          targets.unshift(isName(tokens[j]) && !isOp(tokens[j - 1], '.') ? { store: tokens[j]!.value } : undefined);
        } else if (isName(tokens[j])) {
          targets.unshift(isOp(tokens[j - 1], '.') || isOp(tokens[j - 1], ':') ? undefined : { name: tokens[j]!.value });
        } else {
          break;
        }
        j--;
        while (isOp(tokens[j], '.') || isName(tokens[j])) j--; // the rest of a field target `a.b.c`
        if (!isOp(tokens[j], ',')) break;
        j--;
      }
      const parser = new ExprParser(tokens, i + 1);
      const exprs = parser.exprList();
      targets.forEach((target, k) => {
        // A call in last place may fill several targets: the ones past the list get what the audit cannot see.
        const e = k < exprs.length ? exprs[k] : undefined;
        if (target && 'name' in target) define(target.name, e);
        if (target && 'store' in target && e) stores.set(target.store, [...(stores.get(target.store) ?? []), e]);
      });
    }
  }
  // Parameters: every call site's argument in that position.
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    const list = isName(t) ? params.get(t.value) : undefined;
    if (!list || !isOp(tokens[i + 1], '(')) continue;
    const before = tokens[i - 1];
    if (before && before.kind === 'name' && before.value === 'function') continue;
    const call = new ExprParser(tokens, i).suffixed();
    if (call.kind !== 'call') continue;
    list.forEach((p, k) => define(p, call.args[k]));
  }
  return { values, stores, params };
}

/** The first operand of a `..` chain (`..` is right-associative: a .. (b .. c)). */
function concatParts(e: Expr): Expr[] {
  return e.kind === 'binop' && e.op === '..' ? [e.left, ...concatParts(e.right)] : [e];
}

function originsOf(e: Expr, defs: Definitions, seen: Set<string>): Origin[] {
  switch (e.kind) {
    case 'binop': {
      if (e.op === 'or') return [...originsOf(e.left, defs, seen), ...originsOf(e.right, defs, seen)];
      if (e.op === 'and') return originsOf(e.right, defs, seen);
      if (e.op !== '..') break;
      const [head, next] = concatParts(e);
      const literal = next?.kind === 'string' ? next.value : undefined;
      return originsOf(head!, defs, seen).map((o): Origin => {
        if (o.kind === 'key') return { kind: 'derived', n: o.n, literal };
        if (o.kind === 'derived') return o;
        return { kind: 'unknown', why: `${e.text} starts with ${o.why}` };
      });
    }
    case 'index':
      if (e.obj.kind === 'name' && e.obj.name === 'KEYS') {
        return e.key.kind === 'number' ? [{ kind: 'key', n: e.key.value }] : [{ kind: 'unknown', why: `${e.text} (an index the audit cannot read)` }];
      }
      if (e.obj.kind === 'name' && e.obj.name !== 'ARGV') return tableOrigins(e.obj.name, e, defs, seen);
      break;
    case 'name': {
      if (seen.has(e.name)) return [];
      const found = defs.values.get(e.name);
      if (!found) return [{ kind: 'unknown', why: `${e.name} (no definition found)` }];
      const inner = new Set(seen).add(e.name);
      return found.flatMap((d) => (d ? originsOf(d, defs, inner) : [{ kind: 'unknown', why: `${e.name} (a value the audit cannot follow)` }]));
    }
    default:
      break;
  }
  return [{ kind: 'unknown', why: e.text }];
}

/** `t[i]`: whatever a constructor assigned to t holds, plus every `t[...] = e`. */
function tableOrigins(name: string, e: Expr, defs: Definitions, seen: Set<string>): Origin[] {
  const tag = `${name}[]`;
  if (seen.has(tag)) return [];
  const inner = new Set(seen).add(tag);
  const out: Origin[] = [];
  for (const d of defs.values.get(name) ?? []) {
    if (d?.kind === 'table') for (const item of [...d.items, ...d.fields]) out.push(...originsOf(item, defs, inner));
    else out.push({ kind: 'unknown', why: `${e.text}: ${name} is not a table the audit can read` });
  }
  for (const s of defs.stores.get(name) ?? []) out.push(...originsOf(s, defs, inner));
  return out.length > 0 ? out : [{ kind: 'unknown', why: `${e.text} (no definition of ${name} found)` }];
}

/** Every `redis.call` / `redis.pcall` in `source` (includes expanded) with where each key argument comes from. */
export function keyUses(source: string): KeyUse[] {
  const tokens = tokenize(source);
  const defs = collectDefinitions(tokens);
  const uses: KeyUse[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!(t.kind === 'name' && t.value === 'redis' && isOp(tokens[i + 1], '.') && ['call', 'pcall'].includes(tokens[i + 2]?.value ?? ''))) continue;
    const call = new ExprParser(tokens, i).suffixed();
    if (call.kind !== 'call') continue;
    const [name, ...args] = call.args;
    if (name?.kind !== 'string') {
      uses.push({ line: t.line, command: '?', expr: call.text, origins: [{ kind: 'unknown', why: 'the command name is not a literal' }] });
      continue;
    }
    const command = name.value.toUpperCase();
    const positions = KEY_ARGS[command];
    if (!positions) {
      uses.push({ line: t.line, command, expr: call.text, origins: [{ kind: 'unknown', why: `${command} is not in the audit's table of key arguments` }] });
      continue;
    }
    const keyArgs = positions === 'all' ? args : positions.map((p) => args[p - 1]).filter((a): a is Expr => a !== undefined);
    for (const a of keyArgs) {
      const isSpread = a.kind === 'call' && a.fn.kind === 'name' && a.fn.name === 'unpack';
      uses.push({ line: t.line, command, expr: a.text, origins: isSpread ? [{ kind: 'unknown', why: `keys spread from ${a.text}` }] : originsOf(a, defs, new Set()) });
    }
  }
  return uses;
}

/** The problems with a script's keys; none for a Cluster-safe script. */
export function auditKeys(source: string, declared: DeclaredKey[], numberOfKeys: number): string[] {
  const problems: string[] = [];
  const byN = new Map(declared.map((d) => [d.n, d]));
  for (const use of keyUses(source)) {
    const where = `line ${use.line}: ${use.command} ${use.expr}`;
    if (use.origins.length === 0) problems.push(`${where}: no origin found`);
    for (const o of use.origins) {
      if (o.kind === 'unknown') {
        problems.push(`${where}: a key neither in KEYS nor built from a declared prefix (${o.why})`);
        continue;
      }
      if (o.n < 1 || o.n > numberOfKeys) {
        problems.push(`${where}: KEYS[${o.n}] is past the ${numberOfKeys} keys the file name declares`);
        continue;
      }
      const d = byN.get(o.n);
      if (o.kind === 'derived' && !d?.prefix) problems.push(`${where}: built from KEYS[${o.n}], which the header does not declare a prefix`);
      if (o.kind === 'derived' && d?.prefix && o.literal && !d.description.includes(o.literal)) {
        problems.push(`${where}: builds '${o.literal}…' from KEYS[${o.n}], which its header line does not mention`);
      }
    }
  }
  return problems;
}

/** The KEYS[n] indexes written anywhere in `source`. */
export function keyIndexesUsed(source: string): number[] {
  const tokens = tokenize(source);
  const used = new Set<number>();
  tokens.forEach((t, i) => {
    if (t.kind === 'name' && t.value === 'KEYS' && isOp(tokens[i + 1], '[') && tokens[i + 2]?.kind === 'number') used.add(Number(tokens[i + 2]!.value));
  });
  return [...used].sort((a, b) => a - b);
}

// Just enough of Lua 5.1's syntax to follow where a script's Redis keys come from: a tokenizer and an
// expression parser. Statements are not parsed; the key audit scans tokens for the few statement
// shapes it needs (assignments, function definitions and calls, for-in loops) and parses expressions
// from there.

export interface Token {
  kind: 'name' | 'string' | 'number' | 'op' | 'eof';
  /** The name, the operator, the number's text, or the string's value (escapes resolved loosely). */
  value: string;
  line: number;
}

const KEYWORDS = new Set([
  'and', 'break', 'do', 'else', 'elseif', 'end', 'false', 'for', 'function', 'if', 'in', 'local', 'nil', 'not', 'or',
  'repeat', 'return', 'then', 'true', 'until', 'while',
]);

export const isKeyword = (t: Token): boolean => t.kind === 'name' && KEYWORDS.has(t.value);
export const isName = (t: Token | undefined): t is Token => t !== undefined && t.kind === 'name' && !KEYWORDS.has(t.value);
export const isOp = (t: Token | undefined, op: string): boolean => t !== undefined && t.kind === 'op' && t.value === op;

/** `[[`, `[==[`: the level of a long bracket opening at `i`, or -1. */
function longBracket(src: string, i: number): number {
  const m = /^\[(=*)\[/.exec(src.slice(i, i + 64));
  return m ? m[1]!.length : -1;
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  const skipLong = (level: number): string => {
    const close = `]${'='.repeat(level)}]`;
    const start = i + level + 2;
    const end = src.indexOf(close, start);
    if (end < 0) throw new Error(`line ${line}: unclosed long bracket`);
    const body = src.slice(start, end);
    line += body.split('\n').length - 1;
    i = end + close.length;
    return body;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (src.startsWith('--', i)) {
      i += 2;
      const level = longBracket(src, i);
      if (level >= 0) skipLong(level);
      else while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '[' && longBracket(src, i) >= 0) {
      const at = line;
      out.push({ kind: 'string', value: skipLong(longBracket(src, i)), line: at });
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\n') throw new Error(`line ${line}: unfinished string`);
        if (src[j] === '\\') {
          const e = src[j + 1]!;
          value += ({ n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" } as Record<string, string>)[e] ?? e;
          j += 2;
        } else {
          value += src[j++];
        }
      }
      out.push({ kind: 'string', value, line });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^(0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)/.exec(src.slice(i))!;
      out.push({ kind: 'number', value: m[1]!, line });
      i += m[1]!.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ kind: 'name', value: m[0], line });
      i += m[0].length;
    } else {
      const op = ['...', '..', '==', '~=', '<=', '>='].find((o) => src.startsWith(o, i)) ?? c;
      out.push({ kind: 'op', value: op, line });
      i += op.length;
    }
  }
  out.push({ kind: 'eof', value: '', line });
  return out;
}

export type Expr =
  | { kind: 'name'; name: string; text: string }
  | { kind: 'string'; value: string; text: string }
  | { kind: 'number'; value: number; text: string }
  /** nil, true, false, `...`, an anonymous function. */
  | { kind: 'constant'; text: string }
  | { kind: 'index'; obj: Expr; key: Expr; text: string }
  | { kind: 'field'; obj: Expr; name: string; text: string }
  | { kind: 'call'; fn: Expr; args: Expr[]; text: string }
  | { kind: 'method'; obj: Expr; name: string; args: Expr[]; text: string }
  /** A constructor: `items` are the positional entries, `fields` the keyed ones. */
  | { kind: 'table'; items: Expr[]; fields: Expr[]; text: string }
  | { kind: 'binop'; op: string; left: Expr; right: Expr; text: string }
  | { kind: 'unop'; op: string; operand: Expr; text: string };

/** Left and right binding power of each binary operator (lparser.c's priority table). */
const BINARY: Record<string, [number, number]> = {
  '+': [6, 6], '-': [6, 6], '*': [7, 7], '/': [7, 7], '%': [7, 7],
  '^': [10, 9], '..': [5, 4],
  '==': [3, 3], '~=': [3, 3], '<': [3, 3], '<=': [3, 3], '>': [3, 3], '>=': [3, 3],
  and: [2, 2], or: [1, 1],
};
const UNARY_PRIORITY = 8;

const BLOCK_OPENERS = new Set(['do', 'if', 'function', 'repeat']);
const BLOCK_CLOSERS = new Set(['end', 'until']);

/** Parses expressions from a token index; `pos` is where the last parse stopped. */
export class ExprParser {
  pos: number;
  constructor(
    private readonly tokens: Token[],
    start: number,
  ) {
    this.pos = start;
  }

  private peek(ahead = 0): Token {
    return this.tokens[Math.min(this.pos + ahead, this.tokens.length - 1)]!;
  }

  private next(): Token {
    return this.tokens[this.pos++]!;
  }

  private expect(op: string): void {
    const t = this.next();
    if (!isOp(t, op)) throw new Error(`line ${t.line}: expected '${op}', found '${t.value}'`);
  }

  private text(from: number): string {
    return this.tokens
      .slice(from, this.pos)
      .map((t) => (t.kind === 'string' ? JSON.stringify(t.value).replace(/^"|"$/g, "'") : t.value))
      .join(' ');
  }

  expr(limit = 0): Expr {
    const from = this.pos;
    let left: Expr;
    const t = this.peek();
    if ((t.kind === 'name' && t.value === 'not') || isOp(t, '-') || isOp(t, '#')) {
      this.next();
      const operand = this.expr(UNARY_PRIORITY);
      left = { kind: 'unop', op: t.value, operand, text: this.text(from) };
    } else {
      left = this.simple();
    }
    for (;;) {
      const op = this.peek();
      const power = (op.kind === 'op' || op.kind === 'name') && Object.hasOwn(BINARY, op.value) ? BINARY[op.value]! : undefined;
      if (!power || power[0] <= limit) return left;
      this.next();
      const right = this.expr(power[1]);
      left = { kind: 'binop', op: op.value, left, right, text: this.text(from) };
    }
  }

  /** `expr {, expr}` */
  exprList(): Expr[] {
    const list = [this.expr()];
    while (isOp(this.peek(), ',')) {
      this.next();
      list.push(this.expr());
    }
    return list;
  }

  private simple(): Expr {
    const from = this.pos;
    const t = this.peek();
    if (t.kind === 'number') {
      this.next();
      return { kind: 'number', value: Number(t.value), text: t.value };
    }
    if (t.kind === 'string') {
      this.next();
      return { kind: 'string', value: t.value, text: this.text(from) };
    }
    if ((t.kind === 'name' && ['nil', 'true', 'false'].includes(t.value)) || isOp(t, '...')) {
      this.next();
      return { kind: 'constant', text: t.value };
    }
    if (isOp(t, '{')) return this.table();
    if (t.kind === 'name' && t.value === 'function') {
      this.skipFunction();
      return { kind: 'constant', text: this.text(from) };
    }
    return this.suffixed();
  }

  /** From `function` to its matching `end`. */
  skipFunction(): void {
    let depth = 0;
    do {
      const t = this.next();
      if (t.kind === 'eof') throw new Error('unfinished function');
      if (t.kind === 'name' && BLOCK_OPENERS.has(t.value)) depth++;
      if (t.kind === 'name' && BLOCK_CLOSERS.has(t.value)) depth--;
    } while (depth > 0);
  }

  private table(): Expr {
    const from = this.pos;
    this.expect('{');
    const items: Expr[] = [];
    const fields: Expr[] = [];
    while (!isOp(this.peek(), '}')) {
      if (isOp(this.peek(), '[')) {
        this.next();
        this.expr();
        this.expect(']');
        this.expect('=');
        fields.push(this.expr());
      } else if (isName(this.peek()) && isOp(this.peek(1), '=')) {
        this.next();
        this.next();
        fields.push(this.expr());
      } else {
        items.push(this.expr());
      }
      if (isOp(this.peek(), ',') || isOp(this.peek(), ';')) this.next();
      else break;
    }
    this.expect('}');
    return { kind: 'table', items, fields, text: this.text(from) };
  }

  private args(): Expr[] {
    const t = this.peek();
    if (t.kind === 'string') return [this.simple()];
    if (isOp(t, '{')) return [this.table()];
    this.expect('(');
    if (isOp(this.peek(), ')')) {
      this.next();
      return [];
    }
    const list = this.exprList();
    this.expect(')');
    return list;
  }

  /** A name or parenthesised expression with its suffixes (`.f`, `[k]`, calls): no operators after it. */
  suffixed(): Expr {
    const from = this.pos;
    let e: Expr;
    const t = this.next();
    if (t.kind === 'name' && !isKeyword(t)) {
      e = { kind: 'name', name: t.value, text: t.value };
    } else if (isOp(t, '(')) {
      e = this.expr();
      this.expect(')');
    } else {
      throw new Error(`line ${t.line}: unexpected '${t.value}' in an expression`);
    }
    for (;;) {
      const s = this.peek();
      if (isOp(s, '.')) {
        this.next();
        const name = this.next().value;
        e = { kind: 'field', obj: e, name, text: this.text(from) };
      } else if (isOp(s, '[')) {
        this.next();
        const key = this.expr();
        this.expect(']');
        e = { kind: 'index', obj: e, key, text: this.text(from) };
      } else if (isOp(s, ':')) {
        this.next();
        const name = this.next().value;
        const args = this.args();
        e = { kind: 'method', obj: e, name, args, text: this.text(from) };
      } else if (isOp(s, '(') || isOp(s, '{') || s.kind === 'string') {
        const args = this.args();
        e = { kind: 'call', fn: e, args, text: this.text(from) };
      } else {
        return e;
      }
    }
  }
}

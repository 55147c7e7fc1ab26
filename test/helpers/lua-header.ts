// A Lua script's contract header (the leading --[[ ]] comment): its KEYS lines, the shape of its ARGV[1]
// table and of its reply, in a small notation — {a: int, b?: json, c: [{d: string}], e: {[id]: 'x' | 'y'}}
// — that is compared with the zod schemas the controller holds for the script. Field names, nesting and
// optionality are compared; leaf type words (int, string, json, 'ok' | 'cancel', ...) are for the reader.
import { z } from 'zod';

export interface DeclaredKey {
  n: number;
  /** The header declares it a prefix other keys are built from: its description starts with "prefix". */
  prefix: boolean;
  description: string;
}

export type Shape =
  | { kind: 'leaf' }
  | { kind: 'object'; fields: Record<string, { optional: boolean; shape: Shape }> }
  | { kind: 'record'; of: Shape }
  | { kind: 'array'; of: Shape }
  | { kind: 'union'; of: Shape[] }
  /** Another script's reply, named by its file: `claim-5.lua`. */
  | { kind: 'ref'; file: string };

export interface Header {
  text: string;
  keys: DeclaredKey[];
  /** Undefined when the header has no ARGV[1] line. */
  argv: Shape | undefined;
  returns: Shape | undefined;
}

/** Reads one shape from `text` at `start`; the prose after it is never looked at. */
class ShapeReader {
  constructor(
    private readonly text: string,
    private pos: number,
  ) {}

  private fail(why: string): never {
    throw new Error(`${why} at "${this.text.slice(this.pos, this.pos + 40)}"`);
  }

  private skipSpace(): void {
    while (/\s/.test(this.text[this.pos] ?? '')) this.pos++;
  }

  private peek(): string {
    this.skipSpace();
    return this.text[this.pos] ?? '';
  }

  private take(ch: string): void {
    if (this.peek() !== ch) this.fail(`expected '${ch}'`);
    this.pos++;
  }

  private word(): string {
    this.skipSpace();
    const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(this.text.slice(this.pos));
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  type(): Shape {
    const options = [this.primary()];
    while (this.peek() === '|') {
      this.pos++;
      options.push(this.primary());
    }
    return normalise(options.length === 1 ? options[0]! : { kind: 'union', of: options });
  }

  private primary(): Shape {
    const c = this.peek();
    if (c === '{') return this.object();
    if (c === '[') {
      this.pos++;
      const of = this.type();
      this.take(']');
      return { kind: 'array', of };
    }
    if (c === "'") {
      const end = this.text.indexOf("'", this.pos + 1);
      if (end < 0) this.fail('unclosed quote');
      this.pos = end + 1;
      return { kind: 'leaf' };
    }
    const w = this.word();
    return w.endsWith('.lua') ? { kind: 'ref', file: w } : { kind: 'leaf' };
  }

  private object(): Shape {
    this.take('{');
    if (this.peek() === '[') {
      this.pos++;
      this.word();
      this.take(']');
      this.take(':');
      const of = this.type();
      this.take('}');
      return { kind: 'record', of };
    }
    const fields: Record<string, { optional: boolean; shape: Shape }> = {};
    while (this.peek() !== '}') {
      const name = this.word();
      const optional = this.peek() === '?';
      if (optional) this.pos++;
      this.take(':');
      fields[name] = { optional, shape: this.type() };
      if (this.peek() === ',') this.pos++;
      else break;
    }
    this.take('}');
    return { kind: 'object', fields };
  }
}

/** A union of leaves ('ok' | 'cancel') is a leaf. */
function normalise(s: Shape): Shape {
  if (s.kind === 'union' && s.of.every((o) => o.kind === 'leaf')) return { kind: 'leaf' };
  return s;
}

/** The KEYS lines, each with the indented lines that continue it. */
function declaredKeys(lines: string[]): DeclaredKey[] {
  const out: DeclaredKey[] = [];
  lines.forEach((line, i) => {
    const m = /^(\s*)KEYS\[(\d+)\]\s+\S+\s+(.*)$/.exec(line);
    if (!m) return;
    let description = m[3]!;
    for (let j = i + 1; j < lines.length; j++) {
      const next = lines[j]!;
      const indent = /^\s*/.exec(next)![0].length;
      if (next.trim() === '' || indent <= m[1]!.length || /^\s*(KEYS|ARGV)\[/.test(next)) break;
      description += ` ${next.trim()}`;
    }
    out.push({ n: Number(m[2]), prefix: /^prefix\b/.test(description), description });
  });
  return out;
}

export function parseHeader(source: string): Header {
  if (!source.startsWith('--[[')) throw new Error('the script does not open with a --[[ ]] header');
  const text = source.slice(4, source.indexOf(']]'));
  const lines = text.split('\n');
  const shapeAfter = (marker: RegExp): Shape | undefined => {
    const m = marker.exec(text);
    return m ? new ShapeReader(text, m.index + m[0].length).type() : undefined;
  };
  return {
    text,
    keys: declaredKeys(lines),
    argv: shapeAfter(/^\s*ARGV\[1\]/m),
    returns: shapeAfter(/^\s*Returns\b/m),
  };
}

/** The shape of a zod schema, in the header's terms. */
export function shapeOfSchema(schema: z.ZodType): Shape {
  if (schema instanceof z.ZodObject) {
    const fields: Record<string, { optional: boolean; shape: Shape }> = {};
    for (const [name, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
      const optional = field instanceof z.ZodOptional;
      fields[name] = { optional, shape: shapeOfSchema(optional ? (field.unwrap() as z.ZodType) : field) };
    }
    return { kind: 'object', fields };
  }
  if (schema instanceof z.ZodArray) return { kind: 'array', of: shapeOfSchema(schema.element as z.ZodType) };
  if (schema instanceof z.ZodRecord) return { kind: 'record', of: shapeOfSchema(schema.valueType as z.ZodType) };
  if (schema instanceof z.ZodUnion) return normalise({ kind: 'union', of: (schema.options as z.ZodType[]).map(shapeOfSchema) });
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) return shapeOfSchema(schema.unwrap() as z.ZodType);
  // A transform-then-validate pipe (preprocess) has the shape of what it validates; any other pipe
  // (a JSON-text field) has the shape of what it takes.
  if (schema instanceof z.ZodPipe) return shapeOfSchema((schema.in instanceof z.ZodTransform ? schema.out : schema.in) as z.ZodType);
  return { kind: 'leaf' };
}

/** Where two shapes differ, as paths; `resolve` gives the shape a `name-N.lua` reference stands for. */
export function compareShapes(header: Shape, schema: Shape, resolve: (file: string) => Shape, path = '$'): string[] {
  if (header.kind === 'ref') return compareShapes(resolve(header.file), schema, resolve, path);
  if (header.kind !== schema.kind) return [`${path}: the header says ${header.kind}, the schema ${schema.kind}`];
  switch (header.kind) {
    case 'leaf':
      return [];
    case 'array':
    case 'record':
      return compareShapes(header.of, (schema as typeof header).of, resolve, `${path}[]`);
    case 'union': {
      const other = (schema as typeof header).of;
      if (other.length !== header.of.length) return [`${path}: ${header.of.length} alternatives in the header, ${other.length} in the schema`];
      return header.of.flatMap((h, i) => compareShapes(h, other[i]!, resolve, `${path}|${i}`));
    }
    case 'object': {
      const other = (schema as typeof header).fields;
      const out: string[] = [];
      for (const name of new Set([...Object.keys(header.fields), ...Object.keys(other)])) {
        const h = header.fields[name];
        const s = other[name];
        if (!h) out.push(`${path}.${name}: in the schema, not in the header`);
        else if (!s) out.push(`${path}.${name}: in the header, not in the schema`);
        else if (h.optional !== s.optional) out.push(`${path}.${name}: ${h.optional ? 'optional' : 'required'} in the header, not in the schema`);
        else out.push(...compareShapes(h.shape, s.shape, resolve, `${path}.${name}`));
      }
      return out;
    }
    default:
      return [];
  }
}

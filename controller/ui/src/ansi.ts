// ANSI SGR colours in a log line → styled runs. Other escape sequences (cursor moves, titles) are
// dropped: a log viewer shows text, it does not emulate a terminal.
export interface Run {
  text: string;
  /** CSS classes: fg-N / bg-N for the 16 basic colours, b (bold), d (dim), i, u. */
  cls: string;
  /** 256-colour and true-colour values, applied as styles. */
  fg?: string;
  bg?: string;
}

interface Pen {
  fg: number | string | undefined;
  bg: number | string | undefined;
  bold: boolean;
  dim: boolean;
  italic: boolean;
  underline: boolean;
}

const fresh = (): Pen => ({ fg: undefined, bg: undefined, bold: false, dim: false, italic: false, underline: false });

function color256(n: number): string {
  if (n < 16) return `var(--ansi-${n})`;
  if (n < 232) {
    const v = n - 16;
    const c = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${c(Math.floor(v / 36))},${c(Math.floor(v / 6) % 6)},${c(v % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

/** Applies one SGR parameter list to the pen. */
function apply(pen: Pen, params: number[]): void {
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) Object.assign(pen, fresh());
    else if (p === 1) pen.bold = true;
    else if (p === 2) pen.dim = true;
    else if (p === 3) pen.italic = true;
    else if (p === 4) pen.underline = true;
    else if (p === 22) pen.bold = pen.dim = false;
    else if (p === 23) pen.italic = false;
    else if (p === 24) pen.underline = false;
    else if (p >= 30 && p <= 37) pen.fg = p - 30;
    else if (p >= 90 && p <= 97) pen.fg = p - 90 + 8;
    else if (p === 39) pen.fg = undefined;
    else if (p >= 40 && p <= 47) pen.bg = p - 40;
    else if (p >= 100 && p <= 107) pen.bg = p - 100 + 8;
    else if (p === 49) pen.bg = undefined;
    else if (p === 38 || p === 48) {
      let c: string | undefined;
      if (params[i + 1] === 5) {
        c = color256(params[i + 2] ?? 0);
        i += 2;
      } else if (params[i + 1] === 2) {
        c = `rgb(${params[i + 2] ?? 0},${params[i + 3] ?? 0},${params[i + 4] ?? 0})`;
        i += 4;
      }
      if (p === 38) pen.fg = c;
      else pen.bg = c;
    }
  }
}

// CSI ... final byte, OSC ... BEL/ST, and lone ESC + one character.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** The runs of one line; `pen` carries colours over from the lines before it (pass the same object). */
export function parseAnsi(line: string, pen: Pen = fresh()): Run[] {
  const runs: Run[] = [];
  let last = 0;
  const push = (text: string) => {
    if (!text) return;
    const cls = [
      typeof pen.fg === 'number' ? `fg-${pen.bold && pen.fg < 8 ? pen.fg + 8 : pen.fg}` : '',
      typeof pen.bg === 'number' ? `bg-${pen.bg}` : '',
      pen.bold ? 'b' : '',
      pen.dim ? 'd' : '',
      pen.italic ? 'i' : '',
      pen.underline ? 'u' : '',
    ]
      .filter(Boolean)
      .join(' ');
    runs.push({ text, cls, ...(typeof pen.fg === 'string' ? { fg: pen.fg } : {}), ...(typeof pen.bg === 'string' ? { bg: pen.bg } : {}) });
  };
  for (const m of line.matchAll(ESCAPES)) {
    push(line.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === 'm') apply(pen, (m[1] ?? '').split(';').filter((s) => s !== '').map(Number));
  }
  push(line.slice(last));
  return runs;
}

export function stripAnsi(line: string): string {
  return line.replace(ESCAPES, '');
}

export { fresh as newPen, type Pen };

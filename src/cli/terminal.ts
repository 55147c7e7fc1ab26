// Where the console writes and how: result on stdout, progress on stderr, colour only on a terminal and
// never with NO_COLOR set (https://no-color.org), and job states in the same colours everywhere.
import type { JobState } from '../shared/protocol/job.js';

/** The part of a stream the console needs; tests hand in their own. */
export interface Out {
  write(s: string | Uint8Array): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

/** Colours for one stream: on only when that stream is a terminal. */
export interface Painter {
  colour: boolean;
  /** `text` in the colour of `state` (unchanged without colour). */
  state(state: JobState | string, text?: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

/** The stderr side (progress, notes) paints with the Terminal itself; stdout (tables) with `outPaint`. */
export interface Terminal extends Painter {
  /** Results: ids, tables, JSON. */
  out: Out;
  /** Progress, notes and errors. */
  err: Out;
  /** stderr is a terminal: progress may redraw one live line. */
  live: boolean;
  /** Width of stderr's terminal (100 when unknown). */
  columns(): number;
  /** For what goes to stdout: a table piped into a file gets no escape codes though stderr is a terminal. */
  outPaint: Painter;
}

const SGR: Record<string, [number, number]> = {
  queued: [33, 39],
  running: [36, 39],
  succeeded: [32, 39],
  failed: [31, 39],
  cancelled: [35, 39],
  dim: [2, 22],
  bold: [1, 22],
};

function painter(stream: Out, env: NodeJS.ProcessEnv): Painter {
  // Any non-empty NO_COLOR turns colour off, whatever its value.
  const colour = stream.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
  const paint = (code: string | undefined, text: string) => {
    const c = code ? SGR[code] : undefined;
    return colour && c ? `\x1b[${c[0]}m${text}\x1b[${c[1]}m` : text;
  };
  return {
    colour,
    state: (state, text = state) => paint(state, text),
    dim: (text) => paint('dim', text),
    bold: (text) => paint('bold', text),
  };
}

export function createTerminal(out: Out, err: Out, env: NodeJS.ProcessEnv): Terminal {
  return {
    ...painter(err, env),
    out,
    err,
    live: err.isTTY === true,
    columns: () => (err.columns && err.columns > 0 ? err.columns : 100),
    outPaint: painter(out, env),
  };
}

const ESCAPE = /\x1b\[[0-9;?]*[A-Za-z]/y;

/** Drops colour and cursor sequences: for measuring what a line will take on screen. */
export function visible(s: string): string {
  return s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

/** `s` cut to `width` visible characters (the last one an ellipsis), its colour sequences kept and reset. */
export function fit(s: string, width: number): string {
  if (visible(s).length <= width) return s;
  let out = '';
  let shown = 0;
  for (let i = 0; i < s.length && shown < width - 1; ) {
    ESCAPE.lastIndex = i;
    const m = ESCAPE.exec(s);
    if (m) {
      out += m[0];
      i += m[0].length;
    } else {
      out += s[i++];
      shown++;
    }
  }
  return `${out}…${s.includes('\x1b[') ? '\x1b[0m' : ''}`;
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

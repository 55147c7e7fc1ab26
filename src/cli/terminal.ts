// Where the console writes and how: result on stdout, progress on stderr, colour only on a terminal and
// never with NO_COLOR set (https://no-color.org), and job states in the same colours everywhere.
import type { JobState } from '../shared/protocol/job.js';

/** The part of a stream the console needs; tests hand in their own. */
export interface Out {
  write(s: string | Uint8Array): unknown;
  isTTY?: boolean | undefined;
  columns?: number | undefined;
}

export interface Terminal {
  /** Results: ids, tables, JSON. */
  out: Out;
  /** Progress, notes and errors. */
  err: Out;
  /** stderr is a terminal: progress may redraw one live line. */
  live: boolean;
  colour: boolean;
  /** Width of stderr's terminal (100 when unknown). */
  columns(): number;
  /** `text` in the colour of `state` (unchanged without colour). */
  state(state: JobState | string, text?: string): string;
  dim(text: string): string;
  bold(text: string): string;
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

export function createTerminal(out: Out, err: Out, env: NodeJS.ProcessEnv): Terminal {
  const live = err.isTTY === true;
  // Any non-empty NO_COLOR turns colour off, whatever its value.
  const colour = live && !env.NO_COLOR && env.TERM !== 'dumb';
  const paint = (code: string | undefined, text: string) => {
    const c = code ? SGR[code] : undefined;
    return colour && c ? `\x1b[${c[0]}m${text}\x1b[${c[1]}m` : text;
  };
  return {
    out,
    err,
    live,
    colour,
    columns: () => (err.columns && err.columns > 0 ? err.columns : 100),
    state: (state, text = state) => paint(state, text),
    dim: (text) => paint('dim', text),
    bold: (text) => paint('bold', text),
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

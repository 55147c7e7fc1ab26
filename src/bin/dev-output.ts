// What `npm start` prints of its children: on a terminal each pino line made readable (pino-pretty,
// coloured unless NO_COLOR) behind a coloured [controller]/[agent]/[monitor] prefix; anywhere else the
// JSON lines untouched (they name their process), so a pipe into jq still works.
import type { ChildProcess } from 'node:child_process';

export interface DevOutput {
  /** Prints the child's stdout and stderr line by line; `onLine` also sees each raw line. */
  attach(name: string, proc: ChildProcess, onLine?: (line: string) => void): void;
  /** A line of npm start's own. */
  say(text: string): void;
  /** The last lines a child printed, raw (for "it exited during start-up"). */
  tail(name: string): string[];
}

const PREFIX_COLOURS: Record<string, number> = { controller: 35, agent: 36, monitor: 33, redis: 31 };

type Pretty = (line: string) => string;

/** pino-pretty is a development dependency: a production install without it prints JSON. */
async function loadPretty(colour: boolean): Promise<Pretty | undefined> {
  try {
    const mod = (await import('pino-pretty')) as unknown as { prettyFactory?: (o: object) => Pretty; default?: { prettyFactory?: (o: object) => Pretty } };
    const factory = mod.prettyFactory ?? mod.default?.prettyFactory;
    return factory?.({ colorize: colour, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,name', singleLine: true });
  } catch {
    return undefined;
  }
}

export async function createDevOutput(out: NodeJS.WriteStream, env: NodeJS.ProcessEnv): Promise<DevOutput> {
  const tty = out.isTTY === true;
  const colour = tty && !env.NO_COLOR && env.TERM !== 'dumb';
  const pretty = tty ? await loadPretty(colour) : undefined;
  const tails = new Map<string, string[]>();
  const width = Math.max(...Object.keys(PREFIX_COLOURS).map((n) => n.length));

  const prefix = (name: string) => {
    const p = `[${name}]`.padEnd(width + 2);
    return colour ? `\x1b[${PREFIX_COLOURS[name] ?? 37}m${p}\x1b[39m` : p;
  };

  const show = (name: string, line: string) => {
    if (!pretty) {
      out.write(`${line}\n`);
      return;
    }
    let text = line;
    if (line.startsWith('{')) {
      try {
        text = pretty(line).replace(/\n+$/, '');
      } catch {
        // not pino JSON after all: shown as it came
      }
    }
    for (const l of text.split('\n')) out.write(`${prefix(name)} ${l}\n`);
  };

  return {
    attach(name, proc, onLine) {
      const tail: string[] = [];
      tails.set(name, tail);
      for (const stream of [proc.stdout, proc.stderr]) {
        let partial = '';
        stream?.on('data', (d: Buffer) => {
          const lines = (partial + d.toString()).split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) {
            tail.push(l);
            if (tail.length > 20) tail.shift();
            onLine?.(l);
            show(name, l);
          }
        });
      }
    },
    say: (text) => void out.write(`${text}\n`),
    tail: (name) => [...(tails.get(name) ?? [])],
  };
}

// Reads Prometheus exposition text back into samples, so tests look a series up by name and labels
// (in any order) instead of matching lines by hand.

export type Samples = Map<string, number>;

/** `name{a="1",b="2"}` with the labels sorted: the key of one series. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePromText(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = JSON.parse(`"${l[2]!}"`) as string;
    out.set(seriesKey(m[1]!, labels), Number(m[3]));
  }
  return out;
}

/** The value of one series, undefined when it is not exported. */
export function sampleOf(samples: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.get(seriesKey(name, labels));
}

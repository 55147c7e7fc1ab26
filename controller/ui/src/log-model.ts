// A job's log as pages of whole lines, indexed by line number, with only some pages' bytes held: a
// 200 MB log costs its newline index (4 bytes a line) plus a bounded cache, and a page whose bytes were
// dropped is fetched again by offset (GET /v1/jobs/:id/log?offset=) when it scrolls into view.

/** What one GET returns at most (LOG_PAGE_BYTES in platform-routes.ts). */
const FETCH_BYTES = 4 * 1024 * 1024;
/** Pages are closed at about this size; follow-mode chunks are merged into the last page until then. */
const PAGE_BYTES = 1024 * 1024;
/** Bytes of page text kept in memory at most by default; older pages are dropped least recently used first. */
export const CACHE_BYTES = 32 * 1024 * 1024;

interface Page {
  /** Byte offsets in the log, [start, end): whole lines, the last ending in '\n'. */
  start: number;
  end: number;
  firstLine: number;
  /** Offsets of each '\n' relative to start: one per line. */
  nl: Uint32Array;
  bytes: Uint8Array | undefined;
  usedAt: number;
}

const decoder = new TextDecoder();

function newlines(bytes: Uint8Array): Uint32Array {
  let n = 0;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 10) n++;
  const out = new Uint32Array(n);
  for (let i = 0, j = 0; i < bytes.length; i++) if (bytes[i] === 10) out[j++] = i;
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export type Fetcher = (offset: number) => Promise<Uint8Array>;

export class LogModel {
  private pages: Page[] = [];
  /** The unfinished last line (no '\n' yet). */
  private pending: Uint8Array = new Uint8Array(0);
  private cached = 0;
  private tick = 0;
  private loading = new Map<Page, Promise<void>>();
  /** Bytes taken in so far: where the next read starts. */
  end = 0;

  constructor(
    private readonly fetchAt: Fetcher,
    private readonly onChange: () => void,
    private readonly cacheBytes = CACHE_BYTES,
  ) {}

  get lineCount(): number {
    const last = this.pages[this.pages.length - 1];
    const whole = last ? last.firstLine + last.nl.length : 0;
    return whole + (this.pending.length > 0 ? 1 : 0);
  }

  get cachedBytes(): number {
    return this.cached + this.pending.length;
  }

  /** Takes the next bytes of the log (in order, from `end`). */
  ingest(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.end += chunk.length;
    const data = concat(this.pending, chunk);
    let cut = data.lastIndexOf(10);
    if (cut < 0) {
      this.pending = data;
      this.onChange();
      return;
    }
    cut += 1;
    const whole = data.subarray(0, cut);
    this.pending = data.slice(cut);
    const last = this.pages[this.pages.length - 1];
    // `data` is the old partial line and the chunk: it starts that far before the new end.
    const wholeStart = this.end - data.length;
    if (last && last.bytes && last.end - last.start + whole.length <= PAGE_BYTES) {
      const merged = concat(last.bytes, whole);
      this.cached += whole.length;
      last.bytes = merged;
      last.nl = newlines(merged);
      last.end += whole.length;
      last.usedAt = ++this.tick;
    } else {
      const firstLine = last ? last.firstLine + last.nl.length : 0;
      const bytes = whole.slice();
      this.pages.push({ start: wholeStart, end: wholeStart + whole.length, firstLine, nl: newlines(bytes), bytes, usedAt: ++this.tick });
      this.cached += bytes.length;
      this.evict();
    }
    this.onChange();
  }

  private evict(): void {
    if (this.cached <= this.cacheBytes) return;
    // The last page of the log stays: follow mode appends to it and a followed view shows it.
    const last = this.pages[this.pages.length - 1];
    const held = this.pages.filter((p) => p.bytes && p !== last).sort((a, b) => a.usedAt - b.usedAt);
    for (const p of held) {
      if (this.cached <= this.cacheBytes * 0.75) break;
      this.cached -= p.bytes!.length;
      p.bytes = undefined;
    }
  }

  private pageOf(line: number): Page | undefined {
    let lo = 0;
    let hi = this.pages.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = this.pages[mid]!;
      if (line < p.firstLine) hi = mid - 1;
      else if (line >= p.firstLine + p.nl.length) lo = mid + 1;
      else return p;
    }
    return undefined;
  }

  /** Fetches a dropped page's bytes again. */
  private load(p: Page): Promise<void> {
    let busy = this.loading.get(p);
    if (busy) return busy;
    busy = (async () => {
      let bytes: Uint8Array = new Uint8Array(0);
      while (bytes.length < p.end - p.start) {
        const got = await this.fetchAt(p.start + bytes.length);
        if (got.length === 0) break;
        bytes = concat(bytes, got);
      }
      p.bytes = bytes.subarray(0, p.end - p.start);
      p.usedAt = ++this.tick;
      this.cached += p.bytes.length;
      this.evict();
    })().finally(() => {
      this.loading.delete(p);
      this.onChange();
    });
    this.loading.set(p, busy);
    return busy;
  }

  /** Line `i` (0-based) without its newline, or undefined while its page is being fetched again. */
  line(i: number): string | undefined {
    const p = this.pageOf(i);
    if (!p) {
      const whole = this.lineCount - (this.pending.length > 0 ? 1 : 0);
      return i === whole && this.pending.length > 0 ? decoder.decode(this.pending) : undefined;
    }
    if (!p.bytes) {
      void this.load(p);
      return undefined;
    }
    p.usedAt = ++this.tick;
    const j = i - p.firstLine;
    const from = j === 0 ? 0 : p.nl[j - 1]! + 1;
    let text = decoder.decode(p.bytes.subarray(from, p.nl[j]!));
    if (text.endsWith('\r')) text = text.slice(0, -1);
    return text;
  }

  /**
   * The next line at or after `from` (wrapping once) containing `query`, case-insensitive; pages whose
   * bytes were dropped are fetched again on the way. -1: nowhere.
   */
  async find(query: string, from: number, backwards = false): Promise<number> {
    const q = query.toLowerCase();
    const total = this.lineCount;
    if (!q || total === 0) return -1;
    const check = (i: number) => (this.line(i) ?? '').toLowerCase().includes(q);
    const order = backwards ? [...this.pages].reverse() : this.pages;
    const startPage = this.pageOf(Math.min(from, total - 1));
    const begin = startPage ? order.indexOf(startPage) : 0;
    for (let k = 0; k <= order.length; k++) {
      const p = order[(begin + k) % order.length];
      if (!p) break;
      if (!p.bytes) await this.load(p);
      const text = decoder.decode(p.bytes!).toLowerCase();
      const lines = text.split('\n');
      lines.pop();
      const idx = lines.map((l, j) => (l.includes(q) ? p.firstLine + j : -1)).filter((j) => j >= 0);
      const hit = backwards ? idx.reverse().find((j) => (k === 0 ? j <= from : true)) : idx.find((j) => (k === 0 ? j >= from : true));
      if (hit !== undefined) return hit;
    }
    if (this.pending.length > 0 && check(total - 1)) return total - 1;
    return -1;
  }

  static readonly FETCH_BYTES = FETCH_BYTES;
}

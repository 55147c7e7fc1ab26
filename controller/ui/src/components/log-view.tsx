// A job's log, followed live: only the lines in view are in the DOM, with line numbers, ANSI colours,
// search, and a download link for the whole log. Pages of the log are fetched by byte offset.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { call } from '../api.js';
import { parseAnsi } from '../ansi.js';
import { bytes } from '../format.js';
import { LogModel } from '../log-model.js';

const LINE_PX = 18;
/** Browsers cap an element's height (~33 M px in Chromium); taller logs scroll through a scaled spacer. */
const MAX_SPACER_PX = 8_000_000;
const OVERSCAN = 20;

function Line({ n, text, query }: { n: number; text: string | undefined; query: string }) {
  if (text === undefined) {
    return (
      <div class="log-line">
        <span class="ln">{n + 1}</span>
        <span class="muted">…</span>
      </div>
    );
  }
  const runs = parseAnsi(text);
  const q = query.toLowerCase();
  return (
    <div class="log-line">
      <span class="ln" aria-hidden="true">
        {n + 1}
      </span>
      <span class="lt">
        {runs.map((r, i) => {
          const style = r.fg || r.bg ? { ...(r.fg ? { color: r.fg } : {}), ...(r.bg ? { backgroundColor: r.bg } : {}) } : undefined;
          if (!q || !r.text.toLowerCase().includes(q)) {
            return (
              <span key={i} class={r.cls || undefined} style={style}>
                {r.text}
              </span>
            );
          }
          // Highlight each occurrence of the search text inside the run.
          const parts: preact.JSX.Element[] = [];
          const lower = r.text.toLowerCase();
          let at = 0;
          for (let k = lower.indexOf(q); k >= 0; k = lower.indexOf(q, k + q.length)) {
            parts.push(<>{r.text.slice(at, k)}</>, <mark>{r.text.slice(k, k + q.length)}</mark>);
            at = k + q.length;
          }
          parts.push(<>{r.text.slice(at)}</>);
          return (
            <span key={i} class={r.cls || undefined} style={style}>
              {parts}
            </span>
          );
        })}
      </span>
    </div>
  );
}

export function LogView({ jobId, final, logBytes }: { jobId: string; final: boolean; logBytes: number }) {
  const [, setVersion] = useState(0);
  const [status, setStatus] = useState('loading');
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [searchNote, setSearchNote] = useState('');
  const [current, setCurrent] = useState(-1);
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(480);
  const finalRef = useRef(final);
  finalRef.current = final;

  const model = useMemo(() => {
    let pendingRender = false;
    return new LogModel(
      async (offset) => new Uint8Array(await (await call('GET', `/v1/jobs/${jobId}/log?offset=${offset}`)).arrayBuffer()),
      () => {
        // Many chunks a second while following: one render per frame.
        if (pendingRender) return;
        pendingRender = true;
        requestAnimationFrame(() => {
          pendingRender = false;
          setVersion((v) => v + 1);
        });
      },
    );
  }, [jobId]);

  // Read what is stored page by page, then follow (a streamed GET ?follow=1) until the job is final.
  useEffect(() => {
    const stop = new AbortController();
    // A followed log is a connection held open: it ends with the page, as the event stream does (events.ts).
    const onHide = () => stop.abort();
    addEventListener('pagehide', onHide);
    (async () => {
      for (;;) {
        const res = await call('GET', `/v1/jobs/${jobId}/log?offset=${model.end}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        model.ingest(bytes);
        if (stop.signal.aborted) return;
        if (bytes.length < LogModel.FETCH_BYTES) break;
      }
      while (!stop.signal.aborted && !finalRef.current) {
        setStatus('following');
        try {
          const res = await fetch(`/v1/jobs/${jobId}/log?offset=${model.end}&follow=1`, { signal: stop.signal, credentials: 'same-origin' });
          if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          const reader = res.body.getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            model.ingest(value);
          }
          // The stream ends when the job is final and its log drained.
          break;
        } catch {
          if (stop.signal.aborted) return;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
      if (!stop.signal.aborted) setStatus('complete');
    })().catch(() => setStatus('error'));
    return () => {
      removeEventListener('pagehide', onHide);
      stop.abort();
    };
  }, [jobId, model]);

  const total = model.lineCount;
  const fullPx = total * LINE_PX;
  const spacerPx = Math.min(fullPx, MAX_SPACER_PX);
  const visible = Math.ceil(height / LINE_PX);
  const maxScroll = Math.max(1, spacerPx - height);
  const first = fullPx <= MAX_SPACER_PX ? Math.floor(scrollTop / LINE_PX) : Math.round((scrollTop / maxScroll) * Math.max(0, total - visible));
  const from = Math.max(0, first - (fullPx <= MAX_SPACER_PX ? OVERSCAN : 0));
  const to = Math.min(total, first + visible + OVERSCAN);
  const offsetPx = fullPx <= MAX_SPACER_PX ? from * LINE_PX : scrollTop - (first - from) * LINE_PX;

  const scrollToLine = (i: number) => {
    const el = scroller.current;
    if (!el) return;
    el.scrollTop = fullPx <= MAX_SPACER_PX ? i * LINE_PX - height / 3 : (i / Math.max(1, total - visible)) * maxScroll;
  };

  // Following: stay at the bottom as lines arrive.
  useEffect(() => {
    if (follow && scroller.current) scroller.current.scrollTop = scroller.current.scrollHeight;
  }, [total, follow]);

  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollTop + el.clientHeight >= el.scrollHeight - LINE_PX * 2;
    if (!atBottom && follow) setFollow(false);
  };

  const search = async (backwards: boolean) => {
    if (!query) return;
    setSearchNote('searching…');
    const start = current < 0 ? (backwards ? total - 1 : first) : backwards ? current - 1 : current + 1;
    const hit = await model.find(query, Math.max(0, start), backwards);
    if (hit < 0) {
      setSearchNote('no match');
      return;
    }
    setSearchNote(`line ${hit + 1}`);
    setCurrent(hit);
    setFollow(false);
    scrollToLine(hit);
  };

  const lines = [];
  for (let i = from; i < to; i++) lines.push(<Line key={i} n={i} text={model.line(i)} query={query} />);

  return (
    <section class="log" aria-label="Log">
      <div class="log-tools">
        <form
          class="inline"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            void search(false);
          }}
        >
          <label>
            Search log <input type="search" value={query} onInput={(e) => { setQuery(e.currentTarget.value); setCurrent(-1); setSearchNote(''); }} />
          </label>
          <button type="submit">Next</button>
          <button type="button" onClick={() => void search(true)}>
            Previous
          </button>
          <span class="muted" aria-live="polite">
            {searchNote}
          </span>
        </form>
        <label class="check">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.currentTarget.checked)} /> Follow
        </label>
        <a class="button" href={`/v1/jobs/${encodeURIComponent(jobId)}/log?download=1`} download={`${jobId}.log`}>
          Download log
        </a>
        <span class="muted" data-testid="log-status">
          {total.toLocaleString()} lines · {status}
          {logBytes > 0 ? ` · ${bytes(model.end)} of ${bytes(Math.max(logBytes, model.end))} read` : ''}
        </span>
      </div>
      <div class="log-scroll" ref={scroller} onScroll={onScroll} tabIndex={0} aria-label={`Log of job ${jobId}, ${total} lines`}>
        <div style={{ height: `${spacerPx}px` }} class="log-spacer" />
        <div class="log-lines" style={{ transform: `translateY(${offsetPx}px)` }} data-testid="log-lines">
          {lines}
        </div>
      </div>
    </section>
  );
}

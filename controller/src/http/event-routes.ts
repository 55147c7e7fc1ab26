// GET /v1/events: Server-Sent Events from the controller's event stream (event-stream.ts). Each message
// carries its stream id, so a browser's EventSource resumes with Last-Event-ID after a reconnect.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import { EVENTS_PATH } from '../../../src/shared/protocol/events.js';
import type { EventHub, StreamEvent } from '../event-stream.js';

const STREAM_ID = /^\d{1,16}-\d{1,16}$/;
const eventsQuery = z.strictObject({ lastEventId: z.string().regex(STREAM_ID, 'expected a stream id ms-seq').optional() });
/** A comment line this often keeps proxies and the browser from calling an idle stream dead. */
const KEEPALIVE_MS = 15_000;
/** A client this far behind is cut off; it reconnects with Last-Event-ID and catches up from Redis. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

export function eventRoutes(app: FastifyInstance, hub: EventHub): void {
  const open = new Set<() => void>();
  // Streams never go idle, so closing the server would wait on them: end them first.
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  app.get(EVENTS_PATH, async (req, reply) => {
    const q = parseOr400(eventsQuery, req.query, 'query');
    const header = req.headers['last-event-id'];
    // A new client starts from the stream's last id read before the headers go out: the page loads its
    // data once it sees the stream open, and whatever commits after that is sent, however long the
    // subscription below takes to be in place.
    const after = typeof header === 'string' && STREAM_ID.test(header) ? header : (q.lastEventId ?? (await hub.lastId()));
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    // A short reconnect delay: the controller restarting should not leave pages stale for long. The id
    // (an empty message: the browser keeps it as its last event id without an event) makes even a stream
    // that has carried nothing yet resume from here after a reconnect, not from "now".
    res.write(`retry: 2000\nid: ${after}\n\n`);

    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      clearInterval(keepalive);
      sub.close();
      open.delete(end);
      res.end();
    };
    const send = (events: StreamEvent[]) => {
      if (ended) return;
      res.write(events.map((e) => `id: ${e.id}\ndata: ${JSON.stringify(e.event)}\n\n`).join(''));
      if (res.writableLength > MAX_BUFFERED_BYTES) end();
    };
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    // The reset carries the id it goes on from: a reconnect right after it must not be told to reset again.
    const sub = hub.subscribe(after, send, (from) => res.write(`id: ${from}\ndata: ${JSON.stringify({ type: 'reset' })}\n\n`));
    open.add(end);
    req.raw.on('close', end);
    sub.ready.catch((err: Error) => {
      req.log.warn({ err: err.message }, 'event stream catch-up failed');
      end();
    });
  });
}

// A bounded ring of samples waiting for the controller: when full, the oldest is overwritten, so an
// outage of any length costs a fixed amount of memory and the freshest history survives.

export interface SampleBuffer<T> {
  push(item: T): void;
  /** Up to `n` oldest items, without removing them (they leave only once the controller took them). */
  peek(n: number): T[];
  /** Removes the `n` oldest items. */
  drop(n: number): void;
  size(): number;
  /** Items overwritten because the ring was full. */
  dropped(): number;
}

export function createSampleBuffer<T>(capacity: number): SampleBuffer<T> {
  const cap = Math.max(1, capacity);
  const ring: (T | undefined)[] = new Array<T | undefined>(cap);
  let head = 0; // index of the oldest item
  let len = 0;
  let lost = 0;
  return {
    push(item) {
      if (len === cap) {
        ring[head] = item;
        head = (head + 1) % cap;
        lost++;
        return;
      }
      ring[(head + len) % cap] = item;
      len++;
    },
    peek(n) {
      const out: T[] = [];
      for (let i = 0; i < Math.min(n, len); i++) out.push(ring[(head + i) % cap] as T);
      return out;
    },
    drop(n) {
      const k = Math.min(n, len);
      for (let i = 0; i < k; i++) ring[(head + i) % cap] = undefined;
      head = (head + k) % cap;
      len -= k;
    },
    size: () => len,
    dropped: () => lost,
  };
}

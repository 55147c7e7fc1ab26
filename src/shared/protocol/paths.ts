// A path with one id in it, usable both ways: called with an id it builds the URL a client requests;
// its `route` is the pattern the server registers. One string, so the two sides cannot drift apart.

export interface IdPath {
  (id: string): string;
  /** The fastify route pattern, `:id` in place of the id. */
  readonly route: string;
}

export function idPath(route: `${string}/:id${string}`): IdPath {
  const [before, after] = route.split(':id') as [string, string];
  return Object.assign((id: string) => `${before}${encodeURIComponent(id)}${after}`, { route });
}

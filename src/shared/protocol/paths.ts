// A path with one id in it, usable both ways: called with an id it builds the URL a client requests;
// its `route` is the pattern the server registers. One string, so the two sides cannot drift apart.

export interface IdPath {
  (id: string): string;
  /** The fastify route pattern, `:id` in place of the id. */
  readonly route: string;
  /** The id in a path built this way (still percent-encoded), or undefined when the path is another. */
  match(path: string): string | undefined;
}

export function idPath(route: `${string}/:id${string}`): IdPath {
  const [before, after] = route.split(':id') as [string, string];
  const match = (path: string): string | undefined => {
    if (path.length <= before.length + after.length || !path.startsWith(before) || !path.endsWith(after)) return undefined;
    const id = path.slice(before.length, path.length - after.length);
    return id.includes('/') ? undefined : id;
  };
  return Object.assign((id: string) => `${before}${encodeURIComponent(id)}${after}`, { route, match });
}

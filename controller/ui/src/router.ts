// Hash routes (#/jobs/ID): the controller serves one index.html and needs no knowledge of UI paths.
import { useEffect, useState } from 'preact/hooks';

export interface Route {
  page: 'overview' | 'fleet' | 'host' | 'jobs' | 'job';
  id?: string;
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const [path = '', qs = ''] = hash.replace(/^#\/?/, '').split('?');
  const [first, second] = path.split('/').map((p) => decodeURIComponent(p));
  const query = new URLSearchParams(qs);
  if (first === 'fleet' && second) return { page: 'host', id: second, query };
  if (first === 'fleet') return { page: 'fleet', query };
  if (first === 'jobs' && second) return { page: 'job', id: second, query };
  if (first === 'jobs') return { page: 'jobs', query };
  return { page: 'overview', query };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export const hrefJob = (id: string) => `#/jobs/${encodeURIComponent(id)}`;
export const hrefHost = (id: string) => `#/fleet/${encodeURIComponent(id)}`;

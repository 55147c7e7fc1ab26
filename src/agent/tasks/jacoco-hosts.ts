// Which hosts a coverage dump may connect to: the loopback address, plus the names and addresses an
// operator listed in jacocoHosts. Decided from the text of the request alone, before any DNS lookup or
// connection, so a refusal says nothing about the network (closed, filtered or open ports all look alike).
import { isIPv6 } from 'node:net';
import { HttpAgentError } from '../../shared/errors.js';

/**
 * The loopback address only, not all of 127.0.0.0/8: JaCoCo's default `address` is the loopback
 * address, and other 127.x addresses are where a host runs private services of its own. `localhost`
 * resolves from /etc/hosts, which a remote caller cannot change.
 */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export class JacocoHostNotAllowedError extends HttpAgentError {
  override name = 'JacocoHostNotAllowedError';
  constructor(host: string) {
    // The port is left out on purpose: the answer is the same whatever it is.
    super('JACOCO_HOST_NOT_ALLOWED', `host "${host}" is not the loopback address and not listed in jacocoHosts`);
  }
}

/**
 * One spelling per host: lower case, IPv6 without brackets and in its canonical form (so `::1` and
 * `0:0:0:0:0:0:0:1` match). Other odd spellings (`127.1`, `2130706433`, `010.0.0.5`) stay as they are
 * and so match nothing: getaddrinfo would read them as addresses we did not list.
 */
export function normalizeJacocoHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIPv6(h)) h = new URL(`http://[${h}]/`).hostname.slice(1, -1);
  return h;
}

/** Builds the check once from the configured list; it answers the host to connect to, or throws 403. */
export function createJacocoHostCheck(listed: readonly string[]): (host: string) => string {
  const allowed = new Set([...LOOPBACK, ...listed.map(normalizeJacocoHost)]);
  return (host) => {
    const h = normalizeJacocoHost(host);
    if (!allowed.has(h)) throw new JacocoHostNotAllowedError(host);
    return h;
  };
}

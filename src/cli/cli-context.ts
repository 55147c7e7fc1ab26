// What every console command shares: the controller address and platform token (from --config and
// HTTPAGENT_* like the processes), the platform client, and one mapping of errors to messages (their
// exit codes come from the error registry).
import { z } from 'zod';
import { allConfigKeys, isNonSettingEnv, loadConfig } from '../shared/config/index.js';
import { tokenField, urlField } from '../shared/config/fields.js';
import { createControllerHttp } from '../shared/client/controller-http.js';
import { platformJobsResource, type PlatformJobsResource } from '../shared/client/platform-jobs.js';
import { EXIT, exitStatusFor, HttpAgentError, UsageError } from '../shared/errors.js';

export { EXIT, UsageError };

const cliConfigSchema = z.strictObject({
  controllerUrl: urlField().default('http://127.0.0.1:9890'),
  platformToken: tokenField().optional(),
});

export interface CliContext {
  controllerUrl: string;
  platform: PlatformJobsResource;
  close(): Promise<void>;
}

export function createCliContext(configFile: string | undefined, env: NodeJS.ProcessEnv): CliContext {
  const config = loadConfig(cliConfigSchema, { file: configFile, env, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv });
  if (!config.platformToken) throw new UsageError('HTTPAGENT_PLATFORM_TOKEN is not set: the console needs the platform token');
  const http = createControllerHttp({ baseUrl: config.controllerUrl, token: config.platformToken, connections: 2 });
  return { controllerUrl: config.controllerUrl, platform: platformJobsResource(http), close: () => http.close() };
}

/** Prints one clear line on stderr and returns the exit code for it. */
export function reportError(err: unknown, controllerUrl?: string): number {
  const say = (s: string) => process.stderr.write(`httpagent: ${s}\n`);
  if (!(err instanceof HttpAgentError)) {
    say((err as Error).message ?? String(err));
    return exitStatusFor(err);
  }
  if (err.code === 'CONTROLLER_UNREACHABLE') {
    say(`cannot reach the controller${controllerUrl ? ` at ${controllerUrl}` : ''} (HTTPAGENT_CONTROLLER_URL): ${(err.cause as Error | undefined)?.message ?? err.message}`);
  } else if (err.statusCode === 401) {
    say('the controller refused the platform token (HTTPAGENT_PLATFORM_TOKEN)');
  } else if (err.code === 'USAGE' || err.code === 'CONFIG_INVALID') {
    say(err.message);
  } else {
    say(`${err.code}: ${err.message}`);
  }
  const registered = exitStatusFor(err);
  if (registered !== EXIT.failed) return registered;
  // A reply whose code the registry gives no exit status (a proxy's HTTP_401, AGENT_UNKNOWN): its status decides.
  if (err.statusCode === 401) return EXIT.unauthorized;
  if (err.statusCode === 404) return EXIT.notFound;
  return EXIT.failed;
}

/** `k=v` → [k, v]; the value may hold any character, `=` included. */
export function splitPair(s: string, what: string): [string, string] {
  const eq = s.indexOf('=');
  if (eq <= 0) throw new UsageError(`${what} must look like key=value, got "${s}"`);
  return [s.slice(0, eq), s.slice(eq + 1)];
}

export function parseIntOption(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`--${name} expects a whole number, got "${v}"`);
  return Number(v);
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

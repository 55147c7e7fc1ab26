// What every console command shares: the controller address and platform token (from --config and
// HTTPAGENT_* like the processes), the platform client, and one mapping of errors to one line on stderr
// (their exit statuses come from the error registry).
import { z } from 'zod';
import { allConfigKeys, isNonSettingEnv, loadConfig } from '../shared/config/index.js';
import { tokenField, urlField } from '../shared/config/fields.js';
import { createControllerHttp } from '../shared/client/controller-http.js';
import { platformJobsResource, type PlatformJobsResource } from '../shared/client/platform-jobs.js';
import { EXIT, exitStatusFor, HttpAgentError, UsageError } from '../shared/errors.js';
import type { Terminal } from './terminal.js';

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

/** What a console command runs with: the environment, where it writes, and Ctrl-C. */
export interface CliRuntime {
  env: NodeJS.ProcessEnv;
  term: Terminal;
  /** Aborted by the first Ctrl-C: watching stops, the job goes on. */
  signal: AbortSignal;
}

/** Ctrl-C ended a watch: exit 130 with a line saying how to pick the job up again. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
  constructor(readonly jobIds: string[]) {
    super(`stopped watching; the job goes on: httpagent job wait ${jobIds.join(' ')}`);
  }
}

export interface ConnectOptions {
  config?: string | undefined;
  /** --controller URL: wins over the file and HTTPAGENT_CONTROLLER_URL. */
  controller?: string | undefined;
}

export function createCliContext(o: ConnectOptions, env: NodeJS.ProcessEnv): CliContext {
  const merged = o.controller ? { ...env, HTTPAGENT_CONTROLLER_URL: o.controller } : env;
  const config = loadConfig(cliConfigSchema, { file: o.config ?? env.HTTPAGENT_CONFIG, env: merged, otherKeys: allConfigKeys, ignoreEnv: isNonSettingEnv });
  if (!config.platformToken) throw new UsageError('HTTPAGENT_PLATFORM_TOKEN is not set: the console needs the platform token (npm start prints it)');
  const http = createControllerHttp({ baseUrl: config.controllerUrl, token: config.platformToken, connections: 4 });
  return { controllerUrl: config.controllerUrl, platform: platformJobsResource(http), close: () => http.close() };
}

/** Prints one line on stderr, starting with `who` (the command), and returns the exit status for it. */
export function reportError(err: unknown, t: Terminal, controllerUrl?: string, who = 'httpagent'): number {
  const say = (s: string) => t.err.write(`${who}: ${s}\n`);
  if (err instanceof InterruptedError) {
    say(err.message);
    return EXIT.interrupted;
  }
  if (!(err instanceof HttpAgentError)) {
    say((err as Error)?.message ?? String(err));
    return exitStatusFor(err);
  }
  if (err.code === 'CONTROLLER_UNREACHABLE') {
    const cause = (err.cause as Error | undefined)?.message ?? err.message;
    say(`cannot reach the controller${controllerUrl ? ` at ${controllerUrl}` : ''} (HTTPAGENT_CONTROLLER_URL): ${cause}`);
  } else if (err.statusCode === 401) {
    say('the controller refused the platform token (HTTPAGENT_PLATFORM_TOKEN)');
  } else if (err.code === 'USAGE' || err.code === 'CONFIG_INVALID' || err.code === 'NOT_A_CONTROLLER' || err.code === 'JOB_NOT_FOUND') {
    say(err.message);
  } else {
    say(`${err.code}: ${err.message}`);
  }
  const registered = exitStatusFor(err);
  if (registered !== EXIT.failed) return registered;
  // A reply whose code the registry gives no exit status (a proxy's HTTP_401): its status decides.
  if (err.statusCode === 401) return EXIT.unauthorized;
  if (err.statusCode === 404) return EXIT.notFound;
  return EXIT.failed;
}

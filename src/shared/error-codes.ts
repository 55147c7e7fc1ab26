// The one registry of error codes: every code a process of this project raises or sends, with its HTTP
// status, the exit status of a process that ends on it, whether a retry may succeed, and what it means.
// Error classes take their status and retryability from here; docs/errors.md is generated from it
// (`npm run docs:errors`) and a unit test fails when the two differ.

/**
 * Exit statuses, the same in every process (agent, monitor, controller, update-guard,
 * supervisor-listener) and in the console: a bad setting or bad arguments exit 2 everywhere, so a
 * supervisor or an install script tells "fix the config" from "it crashed" without knowing which
 * process it ran. 3-6 are the console's own outcomes; a job's outcome maps to 0 (succeeded), 1 (failed)
 * and 3 (cancelled), so a script holding a job id reads the outcome from `httpagent job wait ID`'s status.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  cancelled: 3,
  unauthorized: 4,
  notFound: 5,
  unreachable: 6,
  interrupted: 130,
} as const;

/** What each exit status means, for the docs. */
export const EXIT_MEANINGS: Record<keyof typeof EXIT, string> = {
  ok: 'success (the console: the job succeeded)',
  failed: 'any other failure (the console: the job failed)',
  usage: 'a bad setting (CONFIG_INVALID), bad arguments (USAGE), or a console pointed at something that is not a controller (NOT_A_CONTROLLER), in every process and the console',
  cancelled: 'console: the job was cancelled (`job wait`, `job submit --wait`, `job logs --follow`)',
  unauthorized: 'console: the controller refused the platform token',
  notFound: 'console: no such job (or route)',
  unreachable: 'console: the controller is unreachable',
  interrupted: 'console: stopped by Ctrl-C while watching a job (the job goes on)',
};

/** Who raises a code: which API answers with it, or which process fails with it. */
export type ErrorSource = 'any server' | 'agent port' | 'controller' | 'client' | 'process' | 'console' | 'self-update' | 'release bundle';

export interface ErrorCodeSpec {
  /** HTTP status of a reply carrying this code; absent for codes that never travel over HTTP. */
  readonly http?: number;
  /** Exit status of a process or console command that ends on this error. */
  readonly exit?: number;
  /** Repeating the same call later may succeed without anything else changing. */
  readonly retryable: boolean;
  readonly source: ErrorSource;
  /** One line, for the docs table. */
  readonly meaning: string;
}

export const errorCodes = {
  // Every HTTP server of the project (agent port and controller) through the shared kit.
  BAD_REQUEST: { http: 400, retryable: false, source: 'any server', meaning: 'the body, query or path failed validation; `issues` lists `{path, code, message}` and the message names the first field' },
  BAD_JSON: { http: 400, retryable: false, source: 'any server', meaning: 'the body is not valid JSON, or is empty with a JSON content type where a body is required' },
  BAD_CONTENT_LENGTH: { http: 400, retryable: false, source: 'any server', meaning: 'the body length does not match Content-Length' },
  BAD_URL: { http: 400, retryable: false, source: 'any server', meaning: 'a path segment is not valid percent-encoding or is longer than the server takes' },
  BAD_HTTP: { http: 400, retryable: false, source: 'any server', meaning: 'the bytes are not an HTTP/1.1 request the server can parse; the connection is closed' },
  UNAUTHORIZED: { http: 401, exit: EXIT.unauthorized, retryable: false, source: 'any server', meaning: 'the bearer token is missing, malformed or not the one this API takes (on the agent API: not a live credential of an enrolled agent)' },
  NOT_FOUND: { http: 404, exit: EXIT.notFound, retryable: false, source: 'any server', meaning: 'no route for this method and path' },
  REQUEST_TIMEOUT: { http: 408, retryable: true, source: 'any server', meaning: 'the headers did not arrive within httpHeadersTimeoutMs, or the whole request within httpRequestTimeoutMs; the connection is closed' },
  BODY_TOO_LARGE: { http: 413, retryable: false, source: 'any server', meaning: 'the body is larger than bodyLimitBytes (a log append: logChunkMaxBytes); the connection is closed without reading the rest' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, retryable: false, source: 'any server', meaning: 'the body is not application/json' },
  HEADERS_TOO_LARGE: { http: 431, retryable: false, source: 'any server', meaning: 'the request headers are larger than the server takes (16 KiB); the connection is closed' },
  UPGRADE_REQUIRED: { http: 426, retryable: false, source: 'controller', meaning: 'GET /v1/agent/channel is a WebSocket: the request must ask for the upgrade (Upgrade: websocket)' },
  OVERLOADED: { http: 429, retryable: true, source: 'any server', meaning: 'a pool or queue is full; retry after the Retry-After header' },
  INTERNAL: { http: 500, retryable: false, source: 'any server', meaning: 'a bug: the server logged the details; the reply has none' },

  // The agent port (light tasks).
  UNKNOWN_TASK: { http: 400, retryable: false, source: 'agent port', meaning: 'the task is not an executable script directly inside tasksDir' },
  INVALID_SSH_KEY: { http: 400, retryable: false, source: 'agent port', meaning: 'the public key is not one line of a known type with matching base64' },
  DELETE_DISABLED: { http: 403, retryable: false, source: 'agent port', meaning: 'no deleteRoots are configured, so /v1/delete is off' },
  USER_NOT_ALLOWED: { http: 403, retryable: false, source: 'agent port', meaning: 'the user is not in authorizeUsers' },
  USER_NOT_FOUND: { http: 404, retryable: false, source: 'agent port', meaning: 'the user does not exist on the host' },
  HOME_MISSING: { http: 409, retryable: false, source: 'agent port', meaning: "the user's home directory does not exist" },
  UNSAFE_HOME: { http: 409, retryable: false, source: 'agent port', meaning: "the user's home is not a directory the user owns (or is writable by others), so nothing is written into it" },
  AUTHORIZE_FAILED: { http: 500, retryable: true, source: 'agent port', meaning: 'the helper that edits authorized_keys as the target user crashed, timed out or answered nonsense (the reason is logged)' },
  TASK_NEEDS_ROOT: { http: 403, retryable: false, source: 'agent port', meaning: 'tasks.yaml says the task runs as root and the agent is not root; it is never run as another account instead' },
  AUTHORIZE_NEEDS_ROOT: { http: 403, retryable: false, source: 'agent port', meaning: "the agent is not root, so it can change only its own user's authorized_keys" },
  TASK_START_FAILED: { http: 500, retryable: false, source: 'agent port', meaning: 'the kernel would not start the task script (not executable, bad interpreter line)' },
  UNSAFE_SSH_DIR: { http: 409, retryable: false, source: 'agent port', meaning: '~/.ssh or authorized_keys is a symlink or not a plain directory or file' },
  JACOCO_UNREACHABLE: { http: 502, retryable: true, source: 'agent port', meaning: 'no JaCoCo agent listens at the port' },
  JACOCO_CONNECTION: { http: 502, retryable: true, source: 'agent port', meaning: 'the connection to the JaCoCo agent failed mid-dump' },
  JACOCO_TIMEOUT: { http: 502, retryable: true, source: 'agent port', meaning: 'the JaCoCo agent did not finish the dump within jacocoTimeoutSec' },
  COVERAGE_TOO_LARGE: { http: 413, retryable: false, source: 'agent port', meaning: 'the JaCoCo dump is larger than jacocoMaxBytes, or one class has more probes than jacocoMaxProbes; nothing was kept' },
  JACOCO_HOST_NOT_ALLOWED: { http: 403, retryable: false, source: 'agent port', meaning: 'the JaCoCo host is neither loopback nor listed in jacocoHosts; refused before any connection, whatever the port' },
  JACOCO_PROTOCOL: { http: 502, retryable: false, source: 'agent port', meaning: "the JaCoCo agent's reply breaks its wire format (magic, version, block type)" },

  // The controller (platform API and agent API).
  JOB_NOT_FOUND: { http: 404, exit: EXIT.notFound, retryable: false, source: 'controller', meaning: 'no such job (or it expired after retentionSec)' },
  AGENT_UNKNOWN: { http: 404, retryable: false, source: 'controller', meaning: 'the controller has no record of this agent; register again' },
  JOB_NOT_FINAL: { http: 409, retryable: false, source: 'controller', meaning: 'the job is still queued or running, so it cannot be retried yet' },
  JOB_FINAL: { http: 409, retryable: false, source: 'controller', meaning: 'the job already succeeded or failed, so it cannot be cancelled' },
  STALE_EPOCH: { http: 409, retryable: false, source: 'controller', meaning: 'another attempt owns the job; stop working on it and report nothing more' },
  LOG_OFFSET_GAP: { http: 416, retryable: false, source: 'controller', meaning: 'the log chunk starts past the end of the log; resend from `expected`' },
  LOG_INCOMPLETE: { http: 416, retryable: false, source: 'controller', meaning: 'complete came before the whole log; send from `expected`, then complete again' },
  STEP_OUT_OF_RANGE: { http: 400, retryable: false, source: 'controller', meaning: "the step index is past the job's last step" },
  LOG_TAIL_TOO_LARGE: { http: 400, retryable: false, source: 'controller', meaning: 'a log tail on complete carries more than 64 KiB; append the rest first' },
  READ_ONLY: { http: 403, retryable: false, source: 'controller', meaning: 'the viewer token (or a session signed in with it) may read but not act: submit, cancel, retry' },
  CSRF_REQUIRED: { http: 403, retryable: false, source: 'controller', meaning: "a state-changing call made with the dashboard's session cookie lacks the session's x-csrf-token header" },
  REDIS_UNAVAILABLE: { http: 503, retryable: true, source: 'controller', meaning: 'the controller cannot reach Redis; retry after the Retry-After header' },
  REDIS_OOM: { http: 503, retryable: true, source: 'controller', meaning: "Redis is at its maxmemory and refuses writes (noeviction); nothing was written; retry after the Retry-After header, and give Redis memory or let jobs expire" },
  CREDENTIAL_REVOKED: { http: 401, exit: EXIT.unauthorized, retryable: false, source: 'controller', meaning: "the agent's credential was revoked (DELETE /v1/agents/:id): stop, and enroll again only once the platform says so" },
  AGENT_MISMATCH: { http: 403, retryable: false, source: 'controller', meaning: "the agent id in the body, path or query is not the credential's own, or the job's lease belongs to another agent; nothing was changed" },
  AGENT_ENROLLED: { http: 409, retryable: false, source: 'controller', meaning: 'that agent id holds a live credential; the platform must revoke it (DELETE /v1/agents/:id) before it can be enrolled again' },
  AGENT_NOT_FOUND: { http: 404, exit: EXIT.notFound, retryable: false, source: 'controller', meaning: 'no enrolled or registered agent has that id (a port token needs an enrolled, unrevoked agent)' },
  MONITOR_QUOTA: { http: 429, retryable: true, source: 'controller', meaning: "the agent's monitor sent more metric bytes this minute than monitorQuotaBytesPerMin; retry after the Retry-After header" },
  SUBMIT_QUOTA: { http: 429, retryable: true, source: 'controller', meaning: 'the agent queued agentSubmitPerMin jobs for itself this minute (POST /v1/agent/jobs); retry after the Retry-After header' },
  SIGNING_KEY_UNSET: { http: 503, retryable: false, source: 'controller', meaning: 'port tokens need signingKeyFile (HTTPAGENT_SIGNING_KEY_FILE), and it is not set' },

  RELEASES_DISABLED: { http: 503, retryable: false, source: 'controller', meaning: 'the release channel is off: the controller has neither releaseDir nor releaseS3Endpoint' },
  RELEASE_NOT_FOUND: { http: 404, retryable: false, source: 'controller', meaning: 'no release of that version is stored (or its bundle is gone from releaseDir or the S3 bucket)' },
  RELEASE_STORE_UNAVAILABLE: { http: 503, retryable: true, source: 'controller', meaning: "the S3 store of release bundles refused or did not answer (the message names the endpoint, the bucket and S3's error code, never the key); retry after the Retry-After header" },
  RELEASE_BEING_DELETED: { http: 409, retryable: true, source: 'controller', meaning: 'the cleanup (releaseKeep) is deleting that version right now; upload it again after the Retry-After header' },
  RELEASE_EXISTS: { http: 409, retryable: false, source: 'controller', meaning: 'that version is stored with other content (another sha256); a version is published once' },

  // Callers of another process's API (agent, monitor, console): never sent, raised locally.
  CONTROLLER_UNREACHABLE: { http: 502, exit: EXIT.unreachable, retryable: true, source: 'client', meaning: 'the controller refused the connection, reset it or did not answer in time' },
  CONTROLLER_BAD_REPLY: { http: 502, retryable: false, source: 'client', meaning: "the controller's reply does not match the API (another version, or a proxy in between)" },
  NOT_A_CONTROLLER: { http: 502, exit: EXIT.usage, retryable: false, source: 'client', meaning: "the address answers as an httpagent agent's port, not a controller: HTTPAGENT_CONTROLLER_URL names the wrong port" },
  UPSTREAM_UNREACHABLE: { http: 502, retryable: true, source: 'client', meaning: 'the monitor could not reach the agent or the controller' },
  NOT_ENROLLED: { http: 503, retryable: true, source: 'client', meaning: "the monitor found no usable credential in the agent's stateDir (the agent has not enrolled yet); samples wait in its buffer" },

  // Processes and the console.
  CONFIG_INVALID: { exit: EXIT.usage, retryable: false, source: 'process', meaning: 'a setting is missing, malformed or unknown; the message names it' },
  USAGE: { exit: EXIT.usage, retryable: false, source: 'console', meaning: 'bad command-line arguments, or a setting the command needs is unset' },
  REDIS_UNREACHABLE: { exit: EXIT.failed, retryable: false, source: 'process', meaning: 'the controller never reached Redis at start-up; the message names the URL (without its password) and the last failure' },
  UNKNOWN_SCHEDULE: { retryable: false, source: 'process', meaning: 'a scheduled run was fired by a name the agent has no schedule for' },

  // Self-update outcomes (recorded in the update state file and mailed, not sent over HTTP).
  UPDATE_BUILD_FAILED: { retryable: false, source: 'self-update', meaning: 'fetching, installing or building the new commit failed; the agent stays on its release' },
  UPDATE_SELF_TEST_FAILED: { retryable: false, source: 'self-update', meaning: "the new release's self-test failed; the agent stays on its release" },
  UPDATE_UNSIGNED: { retryable: false, source: 'self-update', meaning: 'the head commit is not signed by a key in updateAllowedSigners; it is not built, and not tried again' },
  UPDATE_DOWNGRADE: { retryable: false, source: 'self-update', meaning: 'the head commit has a lower package.json version than the running release, or the branch was rewound to an older commit; refused unless updateAllowDowngrade' },
  UPDATE_SIGNERS_UNREADABLE: { retryable: true, source: 'self-update', meaning: 'updateAllowedSigners cannot be read; no commit is built until it can (checked again at the next tick)' },
  UPDATE_GUARD_FAILED: { retryable: false, source: 'self-update', meaning: 'the new release did not become healthy and was rolled back' },

  // Release bundles (src/shared/bundle): raised by the verifier wherever a bundle is read (install.sh through
  // release-tool.js, the agent's bundle updates, the controller's PUT /v1/releases/:version, which answers with them).
  BUNDLE_TRUNCATED: { http: 422, retryable: false, source: 'release bundle', meaning: 'the bundle ends early (a half-downloaded file): its gzip stream or tar archive is cut short, or it is shorter than the channel said' },
  BUNDLE_MALFORMED: { http: 422, retryable: false, source: 'release bundle', meaning: 'not a release bundle: not gzip, a broken tar header, no manifest first, or a manifest that does not parse' },
  BUNDLE_TAMPERED: { http: 422, retryable: false, source: 'release bundle', meaning: "a file's sha256, size, type or mode differs from the manifest, a file is missing or extra, a path leaves the bundle, or the whole file's sha256 is not the one the channel announced" },
  BUNDLE_UNSIGNED: { http: 422, retryable: false, source: 'release bundle', meaning: 'allowed signers are configured and the bundle carries no signature' },
  BUNDLE_BAD_SIGNATURE: { http: 422, retryable: false, source: 'release bundle', meaning: "the bundle's signature does not verify against the allowed signers (another key, or a manifest changed after signing)" },
  BUNDLE_WRONG_ARCH: { http: 422, retryable: false, source: 'release bundle', meaning: 'the bundle was built for another platform or architecture than this host' },
  BUNDLE_TOO_LARGE: { http: 413, retryable: false, source: 'release bundle', meaning: 'the bundle, or what it unpacks to, is larger than the configured bound' },
  BUNDLE_SIGNERS_UNREADABLE: { http: 503, retryable: true, source: 'release bundle', meaning: 'the allowed-signers file cannot be read, or ssh-keygen cannot be run; nothing is accepted until it can' },
} as const satisfies Record<string, ErrorCodeSpec>;

/** Every code the project may raise. An error class given anything else fails the type check. */
export type ErrorCode = keyof typeof errorCodes;

/** The codes whose replies carry HTTP status `S` (NotFoundError takes only 404 codes, and so on). */
export type CodeWithStatus<S extends number> = {
  [K in ErrorCode]: (typeof errorCodes)[K] extends { http: S } ? K : never;
}[ErrorCode];

/** `C` if every member is registered: a union of literals spelled at a use site is checked against the registry. */
export type CodeOf<C extends ErrorCode> = C;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCodes, code);
}

export function errorSpec(code: ErrorCode): ErrorCodeSpec {
  return errorCodes[code];
}

/**
 * The exit status for a process that ends on `err`: the registry's for a code that has one (a bad
 * setting → 2 in every process), 2 for arguments node:util parseArgs refused, otherwise 1.
 */
export function exitStatusFor(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return EXIT.failed;
  if (isErrorCode(code)) return errorSpec(code).exit ?? EXIT.failed;
  return code.startsWith('ERR_PARSE_ARGS_') ? EXIT.usage : EXIT.failed;
}

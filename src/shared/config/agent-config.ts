// The agent's settings. The monitor on the same host reads the same file and variables.
import { hostname } from 'node:os';
import { z } from 'zod';
import { agentIdFromHostname, agentIdSchema } from '../protocol/ids.js';
import { paramsSchema } from '../protocol/job.js';
import { boolField, cronField, intField, jsonField, labelsField, listField, listenSchema, logLevelField, timezoneField, tokenField, urlField } from './fields.js';
import { httpLimitFields } from './http-limits.js';
import { taskEnvSchema } from './task-manifest.js';

export const scheduleSchema = z.strictObject({
  /** Stable name: part of each run's idempotency key. */
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
  cron: cronField(),
  task: z.string().min(1),
  params: paramsSchema.default({}),
  /** Checked when the config loads: a misspelt zone would otherwise leave the agent with no schedules. */
  timezone: timezoneField().optional(),
  timeoutSec: z.number().int().positive().optional(),
});
export type Schedule = z.infer<typeof scheduleSchema>;

export const agentConfigSchema = z.strictObject({
  /** This agent's id at the controller; defaults to the host name. */
  agentId: agentIdSchema.default(agentIdFromHostname(hostname())),
  controllerUrl: urlField().default('http://127.0.0.1:9890'),
  listen: listenSchema.default('0.0.0.0:9889'),
  /**
   * A file holding an enrollment token, read only while the agent has no credential (install.sh
   * writes it). After enrolling the agent deletes it: the token would enroll any other id.
   */
  enrollTokenFile: z.string().min(1).optional(),
  /** The enrollment token itself, from HTTPAGENT_ENROLL_TOKEN only (development; see agentEnvOnly). */
  enrollToken: tokenField().optional(),
  /**
   * PEM SPKI Ed25519 public keys port tokens must be signed with, for a platform that signs its own;
   * unset: the keys the controller hands out at enrollment and registration.
   */
  portTokenKeysFile: z.string().min(1).optional(),
  /** Allow-listed task executables and their tasks.yaml; the repo's scripts/ when unset. */
  tasksDir: z.string().min(1).optional(),
  /**
   * The account tasks run as when the agent is root (install.sh creates it). An agent that is not root
   * cannot switch: its tasks run as itself, and it says so at start.
   */
  taskUser: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'expected a user name').default('httpagent-task'),
  /** Operator settings for every task, over tasks.yaml's env (SERVICE_ROOTS, LOG_ROOTS, UPLOAD_URLS...). */
  taskEnv: jsonField(taskEnvSchema).default({}),
  /** The credential, port keys, spooled logs and results, saved coverage, update state. */
  stateDir: z.string().min(1).default('./var/agent'),
  /** Heavy jobs run at once. */
  concurrency: intField(1, 1024).default(4),
  labels: labelsField().default({}),
  /** Lease asked of the controller; renewed every third of it. */
  leaseMs: intField(1000, 3_600_000).default(10_000),
  /**
   * Longest wait asked of the controller per claim (it may cap it lower). A new job wakes the claim at
   * once whatever this is; it bounds how long a drain waits for a claim in flight on an idle agent.
   */
  claimWaitMs: intField(0, 120_000).default(10_000),
  /** On SIGTERM, how long running jobs may finish before they are stopped. */
  drainGraceSec: intField(0, 86_400).default(30),
  /** Grace between SIGTERM and SIGKILL when a step is stopped. */
  killGraceMs: intField(0, 600_000).default(5_000),
  /** Default step timeout when a job gives none. */
  stepTimeoutSec: intField(1, 7 * 86_400).default(3600),
  /** Light tasks (POST /v1/run) at once, and how many may wait before 429. */
  runConcurrency: intField(1, 1024).default(8),
  runQueue: intField(0, 100_000).default(64),
  /** Default and maximum timeout of a light task. */
  runTimeoutSec: intField(1, 3600).default(60),
  /** Cap of each captured stream of a light task. */
  outputCapBytes: intField(1024).default(1024 * 1024),
  bodyLimitBytes: intField(1024).default(1024 * 1024),
  // Platform callers hold a connection per light task at most; 512 leaves file descriptors for tasks' pipes.
  ...httpLimitFields({ keepAliveTimeoutMs: 10_000, maxConnections: 512 }),
  /** Roots under which POST /v1/delete may remove things. */
  deleteRoots: listField().default([]),
  /** Users whose authorized_keys POST /v1/authorize may change. */
  authorizeUsers: listField().default([]),
  /** GET /metrics without a port token (a scraper on a trusted network); by default it needs one. */
  metricsPublic: boolField().default(false),
  /** POST /v1/coverage/jacoco: deadline for the whole dump (connect to last byte), not an idle timeout. */
  jacocoTimeoutSec: intField(1, 600).default(30),
  /** Largest reply read from a JaCoCo agent; spooled to stateDir/coverage, so it costs disk, not memory. */
  jacocoMaxBytes: intField(1024).default(64 * 1024 * 1024),
  /** Most probes in one class (a real class has thousands); a longer array is refused from its length alone. */
  jacocoMaxProbes: intField(1, 0x7fffffff).default(1_000_000),
  /** Hosts a dump may reach besides the loopback address (127.0.0.1, ::1, localhost): names or IPs. */
  jacocoHosts: listField(z.string().regex(/^(\[[0-9a-fA-F:]+\]|[0-9a-fA-F:]*:[0-9a-fA-F:]*|[A-Za-z0-9.-]{1,253})$/, 'expected a host name or IP address')).default([]),
  schedules: jsonField(z.array(scheduleSchema)).default([]),
  /** At most one catch-up run for fire times missed while the agent was down. */
  scheduleCatchUp: boolField().default(true),
  logLevel: logLevelField().default('info'),
  // Self-update (src/ops): off while updateRemote is unset.
  /** Git remote (URL or path) the agent updates itself from. */
  updateRemote: z.string().min(1).optional(),
  updateBranch: z.string().regex(/^[A-Za-z0-9_.\/-]{1,200}$/).default('main'),
  /** When to look for a new commit (croner pattern; 5 or 6 fields). */
  updateCron: cronField().default('* * * * *'),
  /**
   * Each tick waits a delay of its own before it asks, the same for an agent every time (from its id),
   * spread over [0, updateSplaySec): a fleet on one cron does not download a new release all at once.
   */
  updateSplaySec: intField(0, 3600).default(30),
  /** How long a new release has to answer /healthz with its commit before it is rolled back. */
  updateDeadlineSec: intField(5, 3600).default(120),
  /** idle: switch only at a moment no job runs; drain: stop claiming and wait for running jobs. */
  updateMode: z.enum(['idle', 'drain']).default('idle'),
  /** Install prefix holding releases/ and the current link; found from the running release when unset. */
  updatePrefix: z.string().min(1).optional(),
  /** Run after a rollback to restart the agent; unset: the guard sends SIGTERM to the agent and its supervisor restarts it. */
  updateRestartCommand: listField().optional(),
  /**
   * Who runs the post-switch health check: spawn (a detached process; supervisord leaves it alone) or
   * external (systemd would kill it with the agent's cgroup, so a path unit starts it; see supervisor/).
   */
  updateGuard: z.enum(['spawn', 'external']).default('spawn'),
  /** Releases kept besides the current one (for rollback by hand). */
  updateKeepReleases: intField(1, 50).default(3),
  /**
   * An SSH allowed-signers file (git's gpg.ssh.allowedSignersFile format): only a head commit signed by a
   * key listed there is built. Unset: any commit the remote serves is built (see README, Self-update).
   */
  updateAllowedSigners: z.string().min(1).optional(),
  /** Build a head whose package.json version is lower than the running one, or that the branch was rewound to. */
  updateAllowDowngrade: boolField().default(false),
  /**
   * git: build the head of updateRemote's updateBranch on the host · bundle: follow the controller's release
   * channel (updateChannel) and install the verified bundle it offers, no registry and no build on the host.
   */
  updateSource: z.enum(['git', 'bundle']).default('git'),
  /** The release channel a bundle-updating agent follows. */
  updateChannel: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'expected 1-32 of [a-z0-9_-]').default('stable'),
  /** Largest bundle the agent downloads. */
  updateBundleMaxBytes: intField(1024 * 1024, 4 * 1024 * 1024 * 1024).default(512 * 1024 * 1024),
  /** The whole download of a bundle, first byte to last. */
  updateDownloadTimeoutSec: intField(5, 3600).default(600),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;

/**
 * Settings the agent and the monitor refused since each host got its own identity: a shared secret
 * in a test server's config or environment is readable by whatever runs there (/proc/<pid>/environ).
 */
export const retiredAgentSettings: Readonly<Record<string, string>> = {
  agentToken: 'each agent has its own credential now: it enrolls once with enrollTokenFile (or HTTPAGENT_ENROLL_TOKEN) and keeps <stateDir>/credential; remove agentToken',
  platformToken: 'an agent holds no platform secret: the platform calls its port with a port token from POST /v1/agents/<id>/token, and schedules queue through the agent API; remove platformToken',
};

/** Settings the agent takes from its environment only. */
export const agentEnvOnly: Readonly<Record<string, string>> = {
  enrollToken: 'a token in a file left on the host would enroll any agent id; put it in the file named by enrollTokenFile (deleted once the agent enrolled) or in HTTPAGENT_ENROLL_TOKEN',
};

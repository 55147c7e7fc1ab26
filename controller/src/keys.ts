// Every Redis key and channel the controller uses, built in one place under one {hash tag}, so each
// script's keys share a Cluster slot (keys a script derives from `base` land in the same slot too).

export interface Keys {
  /** `{<prefix>}:` — scripts build per-job and per-queue keys from it. */
  base: string;
  job(id: string): string;
  log(id: string): string;
  idem(key: string): string;
  seq: string;
  selectors: string;
  leases: string;
  recent: string;
  agents: string;
  agent(id: string): string;
  claimMemo(agentId: string, claimId: string): string;
  monitorLatest(agentId: string): string;
  monitorHistory(agentId: string): string;
  /** The bytes the monitor history holds, kept beside it so the history is trimmed to a byte cap. */
  monitorHistoryBytes(agentId: string): string;
  monitorHeartbeat(agentId: string): string;
  monitorSeen: string;
  alertState(agentId: string): string;
  /** The agent's live credential: JSON {hash, issuedAt}, hash = SHA-256 of the secret (never the secret). */
  credential(agentId: string): string;
  /** The hash of the agent's last revoked credential, so its holder hears CREDENTIAL_REVOKED, not UNAUTHORIZED. */
  revokedCredential(agentId: string): string;
  /** HASH agentId -> when a controller last saw its credential used (ms), written at most every ~10 s. */
  credentialUse: string;
  /** Metric bytes an agent's monitor stored in the current minute (expires with the minute). */
  monitorQuota(agentId: string): string;
  /** Jobs an agent queued for itself in the current minute (expires with the minute). */
  submitQuota(agentId: string): string;
  /** Set while the platform drains the agent (POST /v1/agents/:id/drain): its claims get no new job. */
  agentDrain(agentId: string): string;
  /** STREAM of dashboard events (includes/job-events.lua, event-stream.ts). */
  events: string;
  /**
   * HASH of fleet counters for /metrics, kept by the scripts (never by a scan): `finished|<state>|<queue>`,
   * `leaseExpired|<agentId>`, `sched|<state>|<agentId>|<schedule>`. One field per queue, agent and
   * schedule ever seen, so it is bounded by the fleet, not by the jobs.
   */
  stats: string;
  /** HASH of one minute's dashboard counters (minute = ms / 60000; includes/job-events.lua, GET /v1/overview). */
  minuteStats(minute: number): string;
  /** HASH schedule name -> JSON {jobId, state, finishedAt, error}: each schedule's last finished run (100 at most). */
  scheduleRuns(agentId: string): string;
  /** ZSET job id -> createdAt of the jobs in one state (includes/job-index.lua). */
  jobsInState(state: string): string;
  /** ZSET job id -> createdAt of one named job index (jobIndexNames). */
  jobIndex(name: string): string;
  /** SET of the named job indexes that exist, for the sweeper's trim. */
  jobIndexSets: string;
  /** A stored release bundle's record (the bundle itself is a file under releaseDir or an S3 object, never in Redis). */
  release(version: string): string;
  /** ZSET version -> when it was stored (ms). */
  releases: string;
  /** A release channel: latest, previous, canaryPercent, canaryLabels, maxInFlight. */
  releaseChannel(name: string): string;
  /** ZSET agentId -> when it was admitted: the agents moving to `version` on a bounded channel (offer-release-2.lua). */
  releaseMoving(channel: string, version: string): string;
  /** SET of every channel name a release was rolled out to. */
  releaseChannels: string;
  /** HASH version -> JSON lock: an upload writing its bundle, or a cleanup deleting it (lock-release-upload-1.lua). */
  releaseLocks: string;
  /** HASH of one dashboard session, by the SHA-256 of its cookie (the cookie itself is never stored). */
  session(idHash: string): string;
  /** Pub/sub channel announcing new or re-queued work (not a key, but named alike). */
  wakeChannel: string;
  /** Pub/sub channel naming a revoked agent: every controller drops its cached credential at once. */
  revokeChannel: string;
  /** Pub/sub channel naming an agent the platform drained or resumed: every controller's waiting claims follow. */
  drainChannel: string;
}

/**
 * The prefix is the hash tag itself: every key of one inbox shares a slot, and inboxes with different
 * prefixes on one Cluster land on different slots (so on different masters).
 */
export function createKeys(prefix: string): Keys {
  const base = `{${prefix}}:`;
  return {
    base,
    job: (id) => `${base}job:${id}`,
    log: (id) => `${base}log:${id}`,
    idem: (key) => `${base}idem:${key}`,
    seq: `${base}seq`,
    selectors: `${base}selectors`,
    leases: `${base}leases`,
    recent: `${base}recent`,
    agents: `${base}agents`,
    agent: (id) => `${base}agent:${id}`,
    claimMemo: (agentId, claimId) => `${base}claim:${agentId}:${claimId}`,
    monitorLatest: (id) => `${base}mon:latest:${id}`,
    monitorHistory: (id) => `${base}mon:hist:${id}`,
    monitorHistoryBytes: (id) => `${base}mon:hist-bytes:${id}`,
    monitorHeartbeat: (id) => `${base}mon:hb:${id}`,
    monitorSeen: `${base}mon:seen`,
    alertState: (id) => `${base}mon:alert:${id}`,
    credential: (id) => `${base}cred:${id}`,
    revokedCredential: (id) => `${base}cred-revoked:${id}`,
    credentialUse: `${base}cred-used`,
    monitorQuota: (id) => `${base}mon:quota:${id}`,
    submitQuota: (id) => `${base}submit-quota:${id}`,
    agentDrain: (id) => `${base}drain:${id}`,
    events: `${base}events`,
    stats: `${base}stats`,
    minuteStats: (minute) => `${base}stats:${minute}`,
    scheduleRuns: (id) => `${base}sched:${id}`,
    jobsInState: (state) => `${base}jx:s:${state}`,
    jobIndex: (name) => `${base}jx:${name}`,
    jobIndexSets: `${base}jx:sets`,
    release: (version) => `${base}release:${version}`,
    releases: `${base}releases`,
    releaseChannel: (name) => `${base}release-channel:${name}`,
    releaseMoving: (channel, version) => `${base}release-moving:${channel}:${version}`,
    releaseChannels: `${base}release-channels`,
    releaseLocks: `${base}release-locks`,
    session: (idHash) => `${base}sess:${idHash}`,
    wakeChannel: `${base}wake`,
    revokeChannel: `${base}revoked`,
    drainChannel: `${base}drain-changed`,
  };
}

/** The canonical form of a label selector: `k=v,k=v` sorted by key. */
export function canonicalSelector(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
}

/** Where a job waits and how its arrival is announced, from its target. */
export function queueFor(target: { agent?: string | undefined; labels?: Record<string, string> | undefined }): {
  queue: string;
  selector: string;
  wake: string;
} {
  if (target.agent) return { queue: `q:agent:${target.agent}`, selector: '', wake: `a:${target.agent}` };
  const selector = target.labels ? canonicalSelector(target.labels) : '';
  if (selector) return { queue: `q:sel:${selector}`, selector, wake: `l:${selector}` };
  return { queue: 'q:any', selector: '', wake: '*' };
}

/**
 * The named job indexes (includes/job-index.lua) a job joins at enqueue: each of its tasks, each target
 * label, its target agent; the agent that claims it joins `agent` too. Names never contain ':' after
 * the kind, so `s:<state>` (the state indexes) cannot collide with them.
 */
export const jobIndexNames = {
  task: (task: string) => `t:${task}`,
  label: (key: string, value: string) => `l:${key}=${value}`,
  agent: (id: string) => `a:${id}`,
};

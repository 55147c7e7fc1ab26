// GENERATED from the files in controller/lua by controller/tools/generate-script-names.ts (run by
// `npm run build`); do not edit. test/unit/controller-scripts.test.ts fails when it is out of date.

export const scriptFiles = {
  appendLog: { file: 'append-log-3.lua', numberOfKeys: 3 },
  appendLogFast: { file: 'append-log-fast-3.lua', numberOfKeys: 3 },
  cancel: { file: 'cancel-3.lua', numberOfKeys: 3 },
  claim: { file: 'claim-6.lua', numberOfKeys: 6 },
  completeClaim: { file: 'complete-claim-6.lua', numberOfKeys: 6 },
  enqueue: { file: 'enqueue-4.lua', numberOfKeys: 4 },
  enqueueClaim: { file: 'enqueue-claim-8.lua', numberOfKeys: 8 },
  fleetMetrics: { file: 'fleet-metrics-6.lua', numberOfKeys: 6 },
  heartbeat: { file: 'heartbeat-4.lua', numberOfKeys: 4 },
  lockReleaseUpload: { file: 'lock-release-upload-1.lua', numberOfKeys: 1 },
  monitorHeartbeat: { file: 'monitor-heartbeat-2.lua', numberOfKeys: 2 },
  monitorMetrics: { file: 'monitor-metrics-4.lua', numberOfKeys: 4 },
  offerRelease: { file: 'offer-release-2.lua', numberOfKeys: 2 },
  pruneReleases: { file: 'prune-releases-4.lua', numberOfKeys: 4 },
  reap: { file: 'reap-4.lua', numberOfKeys: 4 },
  register: { file: 'register-2.lua', numberOfKeys: 2 },
  renew: { file: 'renew-2.lua', numberOfKeys: 2 },
  revokeAgent: { file: 'revoke-agent-7.lua', numberOfKeys: 7 },
  rolloutRelease: { file: 'rollout-release-5.lua', numberOfKeys: 5 },
  step: { file: 'step-2.lua', numberOfKeys: 2 },
  unlockPrunedReleases: { file: 'unlock-pruned-releases-1.lua', numberOfKeys: 1 },
} as const;

export type ScriptName = keyof typeof scriptFiles;

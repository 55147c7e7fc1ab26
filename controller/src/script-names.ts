// GENERATED from the files in controller/lua by controller/tools/generate-script-names.ts (run by
// `npm run build`); do not edit. test/unit/controller-scripts.test.ts fails when it is out of date.

export const scriptFiles = {
  appendLog: { file: 'append-log-3.lua', numberOfKeys: 3 },
  appendLogFast: { file: 'append-log-fast-3.lua', numberOfKeys: 3 },
  cancel: { file: 'cancel-3.lua', numberOfKeys: 3 },
  claim: { file: 'claim-5.lua', numberOfKeys: 5 },
  completeClaim: { file: 'complete-claim-5.lua', numberOfKeys: 5 },
  enqueue: { file: 'enqueue-4.lua', numberOfKeys: 4 },
  heartbeat: { file: 'heartbeat-4.lua', numberOfKeys: 4 },
  monitorHeartbeat: { file: 'monitor-heartbeat-2.lua', numberOfKeys: 2 },
  monitorMetrics: { file: 'monitor-metrics-2.lua', numberOfKeys: 2 },
  reap: { file: 'reap-4.lua', numberOfKeys: 4 },
  register: { file: 'register-2.lua', numberOfKeys: 2 },
  renew: { file: 'renew-2.lua', numberOfKeys: 2 },
  step: { file: 'step-2.lua', numberOfKeys: 2 },
} as const;

export type ScriptName = keyof typeof scriptFiles;

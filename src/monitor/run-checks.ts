// Runs one round of health checks at once: the agent's /healthz, supervisord, extra checks, thresholds.
import type { Observation } from './alerts/alert-engine.js';
import type { HostFigures } from './collectors/host-sampler.js';
import { httpCheck } from './checks/http-check.js';
import { patternCheck, pidfileCheck } from './checks/process-check.js';
import { supervisorCheck } from './checks/supervisor-check.js';
import { thresholdChecks, type OverSince } from './checks/threshold-checks.js';
import type { MonitorOptions } from './monitor-options.js';
import { createHttpCaller } from './monitor-http.js';
import type { SetupNotices, SetupProblem } from './setup-notices.js';

export interface CheckRunner {
  run(latest: HostFigures | undefined, now: number): Promise<Observation[]>;
  close(): void;
}

/** setupNotices: told the setup problems of each round (checks that cannot run on this host as set up). */
export function createCheckRunner(o: MonitorOptions, supervisorctl?: string, setupNotices?: SetupNotices): CheckRunner {
  const over: OverSince = new Map();
  const http = createHttpCaller(8);
  return {
    close: () => http.close(),
    async run(latest, now) {
      const jobs: Promise<Observation | Observation[]>[] = [];
      const problems: SetupProblem[] = [];
      if (o.agentHealthUrl) jobs.push(httpCheck('agent', o.agentHealthUrl, o.timeoutMs, http));
      if (o.supervisor) {
        jobs.push(
          supervisorCheck({
            programs: o.supervisor.programs,
            configFile: o.supervisor.configFile,
            timeoutMs: o.timeoutMs,
            onSetupProblem: (p) => problems.push(p),
            ...(supervisorctl ? { command: supervisorctl } : {}),
          }),
        );
      }
      for (const c of o.extraChecks) {
        const name = `check:${c.name}`;
        if (c.type === 'http') jobs.push(httpCheck(name, c.url, c.timeoutMs, http));
        else if (c.pidfile) jobs.push(pidfileCheck(name, c.pidfile));
        else jobs.push(patternCheck(name, c.pattern!));
      }
      const results = (await Promise.all(jobs)).flat();
      await setupNotices?.round(problems);
      return [...results, ...thresholdChecks(latest, o.thresholds, over, now)];
    },
  };
}

// The agent's Prometheus metrics, created once per agent on its own registry (no global state):
// the job loop records into them and the HTTP port serves them at /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface AgentMetrics {
  registry: Registry;
  jobsTotal: Counter<'outcome'>;
  stepsTotal: Counter<'outcome'>;
  stepDuration: Histogram<'task' | 'outcome'>;
  leaseRenewFailures: Counter<'reason'>;
  lightTaskDuration: Histogram<'route' | 'outcome'>;
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  /** Claims and completes sent to the controller, by the road they took (channel or http). */
  controllerCalls: Counter<'transport'>;
  /** 1 while the agent channel to the controller is open. */
  channelOpen: Gauge;
}

export function createAgentMetrics(opts: { processMetrics?: boolean } = {}): AgentMetrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'httpagent_' });
  const registers = [registry];
  return {
    registry,
    jobsTotal: new Counter({ name: 'httpagent_jobs_total', help: 'Heavy jobs finished by this agent, by outcome', labelNames: ['outcome'], registers }),
    stepsTotal: new Counter({ name: 'httpagent_steps_total', help: 'Job steps finished, by outcome', labelNames: ['outcome'], registers }),
    stepDuration: new Histogram({
      name: 'httpagent_step_duration_seconds',
      help: 'Duration of job steps',
      labelNames: ['task', 'outcome'],
      buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
    leaseRenewFailures: new Counter({ name: 'httpagent_lease_renew_failures_total', help: 'Lease renewals that failed, by reason', labelNames: ['reason'], registers }),
    lightTaskDuration: new Histogram({
      name: 'httpagent_light_task_duration_seconds',
      help: 'Duration of light tasks on the agent port',
      labelNames: ['route', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    }),
    httpRequestDuration: new Histogram({
      name: 'httpagent_http_request_duration_seconds',
      help: 'HTTP request durations on the agent port',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    }),
    controllerCalls: new Counter({
      name: 'httpagent_controller_calls_total',
      help: 'Claims and completes sent to the controller, by transport: channel (the WebSocket) or http',
      labelNames: ['transport'],
      registers,
    }),
    channelOpen: new Gauge({ name: 'httpagent_controller_channel_open', help: '1 while the agent channel (WebSocket) to the controller is open', registers }),
  };
}

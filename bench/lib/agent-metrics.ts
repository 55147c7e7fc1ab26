// Reads a running agent's finished-job count from its Prometheus /metrics (how benches see progress).
import { request } from 'undici';

export async function jobsFinished(agentUrl: string, outcome = 'succeeded'): Promise<number> {
  const res = await request(`${agentUrl}/metrics`);
  const text = await res.body.text();
  const m = new RegExp(`^httpagent_jobs_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

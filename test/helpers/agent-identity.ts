// An in-process agent's identity for tests that run the job loop in the test process: it enrolls at the
// controller (a real one) with the test enrollment token on first use, like `httpagent agent` does.
import { enrollWith } from '../../src/agent/controller-client/enroll.js';
import { createAgentIdentity, type AgentIdentity } from '../../src/agent/identity/agent-identity.js';
import { loadPortKeyRing, type PortKeyRing } from '../../src/agent/identity/port-key-ring.js';
import { silentLogger, type Logger } from '../../src/shared/log.js';
import { TEST_ENROLL_TOKEN } from './identity.js';

export interface InProcessIdentity {
  identity: AgentIdentity;
  portKeys: PortKeyRing;
}

export async function inProcessIdentity(
  config: { agentId: string; stateDir: string; controllerUrl: string },
  opts: { enrollToken?: string; logger?: Logger } = {},
): Promise<InProcessIdentity> {
  const logger = opts.logger ?? silentLogger();
  const portKeys = await loadPortKeyRing({ stateDir: config.stateDir, logger });
  const identity = createAgentIdentity(
    { agentId: config.agentId, stateDir: config.stateDir, enrollToken: opts.enrollToken ?? TEST_ENROLL_TOKEN },
    { enroll: enrollWith(config.controllerUrl), keys: portKeys, logger },
  );
  return { identity, portKeys };
}

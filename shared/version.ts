// The version of this build of fleet, as `fleet-agent.mjs --version` prints it: the agent's version (shared/agent-version.ts).
import { agentVersion } from './agent-version.js';

/** This program's version: what `fleet-agent.mjs --version` prints and what an agent reports. */
export const FLEET_VERSION: string = agentVersion();

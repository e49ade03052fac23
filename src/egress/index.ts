// egress: the gateway that lets sandboxed code reach the policy's HTTP(S) APIs over its execution's Unix socket —
// host rules, address checks, secrets (placeholders in, values out of responses), caps — and its start-up set-up.
export { createEgressGateway, type EgressGateway } from './gateway.js';
export { loadEgressSetup, type EgressSetup } from './setup.js';
export { EGRESS_SOCKET_NAME, sandboxEgress } from './sandbox-config.js';

/*
 * agent.h - `edgeflow agent`: the edgeflow runtime plus the device side of
 * the fleet protocol (docs/fleet-protocol.md, docs/cli.md).
 */
#ifndef FLEET_AGENT_H
#define FLEET_AGENT_H

/*
 * Runs the agent with the command line after "edgeflow" (argv[0] is
 * "agent"). Returns the process exit status: 0 after a normal stop, 2 for
 * a usage, setup or enrolment error, 3 when the device was revoked.
 */
int fleet_agent_main(int argc, char **argv);

#endif

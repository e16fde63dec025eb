/*
 * fleet_cli.h - `edgeflow fleet`: the command-line client of the fleet
 * manager's REST API (docs/fleet-protocol.md, docs/cli.md).
 */
#ifndef EF_FLEET_CLI_H
#define EF_FLEET_CLI_H

/*
 * Runs `edgeflow fleet ARGS...`; argv[0] is the first argument after
 * "fleet". Returns the process exit status: 0 success, 1 the request failed
 * (connection, HTTP error; the reason is printed on stderr), 2 bad usage or an
 * unreadable local file.
 */
int ef_fleet_cli_main(int argc, char **argv);

#endif

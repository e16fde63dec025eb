/*
 * listen_access.h - the listenAllowedPorts setting: which ports the nodes
 * that listen (tcp in, tcp out in server mode, udp in) may open. Unset
 * means any port, as in Node-RED.
 */
#ifndef EF_NODES_LISTEN_ACCESS_H
#define EF_NODES_LISTEN_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/node.h>

/*
 * Whether node n may listen on `port`. The setting is a list whose entries
 * are port numbers, "N" or ranges "N-M" (inclusive). When the port is not
 * allowed, or the setting is malformed, returns false with a message that
 * names the port and the setting in err.
 */
bool listen__port_allowed(struct ef_node *n, int port, char *err, size_t errlen);

#endif

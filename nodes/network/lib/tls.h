/*
 * tls.h - what a tls-config node (nodes/network/tls_config.c) offers the
 * nodes that use it: file paths for the CA, certificate and key (uploaded
 * certificates from the credentials are written to private temporary files,
 * since paho takes file names), the key passphrase, server verification,
 * the SNI server name and the ALPN protocol.
 */
#ifndef EF_NODES_TLS_H
#define EF_NODES_TLS_H

#include <stdbool.h>

#include <edgeflow/node.h>

struct tls_conf {
    bool valid;
    bool verify;           /* verifyservercert */
    char *ca, *cert, *key; /* file paths, NULL when not set */
    char *passphrase;
    char *servername, *alpn;
    char *tmp[3]; /* temporary files written from the credentials (removed on close) */
};

/* The configuration of a tls-config node, or NULL if n is not one. */
const struct tls_conf *tls_config__get(struct ef_node *n);

#endif

/*
 * pki.h — the server's certificate authority (see pki.c).
 */
#ifndef YAMORI_SERVER_PKI_H
#define YAMORI_SERVER_PKI_H

struct server;

/* The CA certificate in PEM (what agents and the CLI pin), or NULL before
 * the pki module ran. Valid while the server runs. */
const char *pki_ca_pem(struct server *srv);

/* "SHA256:hex..." of the CA certificate, for people to compare. */
const char *pki_ca_fingerprint(struct server *srv);

#endif

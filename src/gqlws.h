/* graphql-ws first-message tokens (SPEC §12, token_sources ... graphql_ws):
 * for an upgrade with no HTTP-level token that offers graphql-transport-ws
 * or graphql-ws, wsgate answers the 101 itself, reads connection_init,
 * admits its token, and only then connects upstream. */
#ifndef WSGATE_GQLWS_H
#define WSGATE_GQLWS_H

struct session;

/* Largest connection_init read (one unfragmented text frame). */
#define GQLWS_MAX_INIT (16 * 1024)

/* The admitted request's handler (intake.c) when adm.gql_pending. */
void gqlws_proceed(struct session *s);

#endif

/* Why a request was refused or a session ended: one enum and one name
 * table, used by the metrics labels, the access log and /sessions, so a
 * misspelt cause is a compile error rather than a new metrics bucket. */
#ifndef WSGATE_OUTCOME_H
#define WSGATE_OUTCOME_H

/* Which metric an outcome is a label of. */
#define OC_REJECT 1u                /* wsgate_handshakes_total{result="rejected",reason} */
#define OC_CLOSE 2u                 /* wsgate_closes_total{cause} */

/* X(ENUM, "name", metrics it labels). "other" is what a metric counts an
 * outcome under when the outcome is not one of its labels. */
#define OUTCOMES(X) \
    X(BAD_REQUEST, "bad_request", OC_REJECT) \
    X(REQUEST_HEADER_FIELDS_TOO_LARGE, "request_header_fields_too_large", OC_REJECT) \
    X(REQUEST_TIMEOUT, "request_timeout", OC_REJECT) \
    X(NO_ROUTE, "no_route", OC_REJECT) \
    X(NOT_WEBSOCKET, "not_websocket", OC_REJECT) \
    X(BODY_ON_UPGRADE, "body_on_upgrade", OC_REJECT) \
    X(BAD_WEBSOCKET_KEY, "bad_websocket_key", OC_REJECT) \
    X(BAD_WEBSOCKET_VERSION, "bad_websocket_version", OC_REJECT) \
    X(ORIGIN_NOT_ALLOWED, "origin_not_allowed", OC_REJECT) \
    X(MISSING_TOKEN, "missing_token", OC_REJECT) \
    X(INVALID_TOKEN, "invalid_token", OC_REJECT) \
    X(INSUFFICIENT_SCOPE, "insufficient_scope", OC_REJECT) \
    X(TOKEN_REVOKED, "token_revoked", OC_REJECT | OC_CLOSE) \
    X(TOKEN_EXPIRED, "token_expired", OC_REJECT | OC_CLOSE) \
    X(REDIS_UNAVAILABLE, "redis_unavailable", OC_REJECT) \
    X(KEYS_UNAVAILABLE, "keys_unavailable", OC_REJECT) \
    X(TOO_MANY_CONNECTIONS, "too_many_connections", OC_REJECT) \
    X(TOO_MANY_CONNECTIONS_PER_IP, "too_many_connections_per_ip", OC_REJECT) \
    X(TOO_MANY_SESSIONS_PER_SUBJECT, "too_many_sessions_per_subject", OC_REJECT) \
    X(BAD_GATEWAY, "bad_gateway", OC_REJECT) \
    X(GATEWAY_TIMEOUT, "gateway_timeout", OC_REJECT) \
    X(UPSTREAM_DECLINED, "upstream_declined", OC_REJECT) \
    X(UPSTREAM_CLOSED, "upstream_closed", OC_REJECT | OC_CLOSE) \
    X(UPSTREAM_TIMEOUT, "upstream_timeout", OC_REJECT) \
    X(CLIENT_CLOSED, "client_closed", OC_REJECT | OC_CLOSE) \
    X(SHUTDOWN, "shutdown", OC_REJECT | OC_CLOSE) \
    X(TLS_HANDSHAKE_FAILED, "tls_handshake_failed", OC_REJECT) \
    X(TLS_HANDSHAKE_TIMEOUT, "tls_handshake_timeout", OC_REJECT) \
    X(INTERNAL_ERROR, "internal_error", OC_REJECT) \
    X(BAD_ENGINEIO, "bad_engineio", OC_REJECT) \
    X(UNKNOWN_SID, "unknown_sid", OC_REJECT) \
    X(TOO_MANY_SESSIONS, "too_many_sessions", OC_REJECT) \
    X(BAD_PROXY_HEADER, "bad_proxy_header", OC_REJECT) \
    X(PROXY_HEADER_TIMEOUT, "proxy_header_timeout", OC_REJECT) \
    X(CLIENT_ERROR, "client_error", OC_CLOSE) \
    X(UPSTREAM_ERROR, "upstream_error", OC_CLOSE) \
    X(IDLE_TIMEOUT, "idle_timeout", OC_CLOSE) \
    X(MESSAGE_TOO_BIG, "message_too_big", OC_CLOSE) \
    X(PROTOCOL_ERROR, "protocol_error", OC_CLOSE) \
    X(UPSTREAM_PROTOCOL_ERROR, "upstream_protocol_error", OC_CLOSE) \
    X(CONNECT_REFUSED, "connect_refused", OC_CLOSE) \
    X(POLICY_VIOLATION, "policy_violation", OC_CLOSE) \
    X(AUTH_TIMEOUT, "authentication_timeout", OC_CLOSE) \
    X(PROXIED, "proxied", 0) \
    X(KEEPALIVE_TIMEOUT, "keepalive_timeout", 0) \
    X(UPSTREAM_BAD_RESPONSE, "upstream_bad_response", 0) \
    X(CONTENT_TOO_LARGE, "content_too_large", 0) \
    X(SERVICE_UNAVAILABLE, "service_unavailable", 0) \
    X(CORS_PREFLIGHT, "cors_preflight", 0) \
    X(OTHER, "other", OC_REJECT | OC_CLOSE)

enum outcome {
    OC_NONE = 0,                    /* not decided yet */
#define OUTCOME_ENUM(e, n, k) OC_##e,
    OUTCOMES(OUTCOME_ENUM)
#undef OUTCOME_ENUM
    OC_COUNT
};

/* "bad_request", ...; NULL for OC_NONE. */
const char *outcome_name(enum outcome o);
/* OC_REJECT and/or OC_CLOSE. */
unsigned outcome_labels(enum outcome o);

/* What an in-band re-auth came to (SPEC §11): the "error" code of a
 * refusal and the result label of wsgate_reauth_total. */
#define REAUTH_RESULTS(X) \
    X(OK, "ok") \
    X(INVALID_TOKEN, "invalid_token") \
    X(INSUFFICIENT_SCOPE, "insufficient_scope") \
    X(SUB_MISMATCH, "sub_mismatch") \
    X(RATE_LIMITED, "rate_limited") \
    X(SERVICE_UNAVAILABLE, "service_unavailable")

enum reauth_result {
#define REAUTH_ENUM(e, n) REAUTH_##e,
    REAUTH_RESULTS(REAUTH_ENUM)
#undef REAUTH_ENUM
    REAUTH_NRESULTS
};

const char *reauth_result_name(enum reauth_result r);

#endif

/* Key store: every verification key parsed once, at load or reload, into
 * OpenSSL objects or raw secret bytes, with an optional kid and alg. */
#ifndef WSGATE_KEYS_H
#define WSGATE_KEYS_H

#include <stddef.h>
#include <openssl/evp.h>

enum key_type { KEY_HMAC, KEY_RSA, KEY_EC, KEY_ED25519 };

struct key {
    enum key_type type;
    char *kid;               /* NULL when the key has none */
    char *alg;               /* JWK "alg" restriction, NULL when none */
    int curve_nid;           /* KEY_EC: NID_X9_62_prime256v1, NID_secp384r1, NID_secp521r1 */
    EVP_PKEY *pkey;          /* KEY_RSA, KEY_EC, KEY_ED25519 */
    unsigned char *secret;   /* KEY_HMAC */
    size_t secret_len;
    char *source;            /* file (and index) it came from, for messages */
};

struct keystore {
    struct key *keys;
    size_t nkeys;
};

struct keystore *keystore_new(void);
void keystore_free(struct keystore *ks);

/* key_file: a PEM SPKI public key (RSA, EC or Ed25519), a PEM X.509 certificate (possibly
 * several PEM blocks), or a JWKS JSON document (detected by a leading '{').
 * Fills err (no key material in it) and returns -1 on failure. */
int keystore_add_key_file(struct keystore *ks, const char *path, char *err, size_t errlen);
/* JWKS document already in memory (used for files and, later, remote sets). */
int keystore_add_jwks(struct keystore *ks, const char *json, size_t len,
                      const char *source, char *err, size_t errlen);
/* hmac_secret_file: raw bytes, taken exactly as stored (no newline trimming). */
int keystore_add_secret_file(struct keystore *ks, const char *path, char *err, size_t errlen);

#endif

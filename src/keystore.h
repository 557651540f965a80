/* keystore.h — Java key and trust stores (JKS, PKCS#12) read into PEM in memory.
 *
 * MM2 users point ssl.truststore.location / ssl.keystore.location at the stores keytool made,
 * usually JKS. librdkafka reads neither JKS nor a PKCS#12 trust store, so kmirror reads them
 * itself, verifies them as Java does, and hands librdkafka PEM strings (ssl.ca.pem,
 * ssl.certificate.pem, ssl.key.pem): the decrypted key never touches the disk. */
#ifndef KM_KEYSTORE_H
#define KM_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { KM_STORE_PEM, KM_STORE_PKCS12, KM_STORE_JKS, KM_STORE_JCEKS, KM_STORE_UNKNOWN } km_store_type_t;

typedef enum {
    KM_STORE_OK = 0,
    KM_STORE_EIO,          /* unreadable file */
    KM_STORE_EFORMAT,      /* not a well-formed store of the type */
    KM_STORE_EINTEGRITY,   /* integrity digest mismatch: tampered, or wrong store password */
    KM_STORE_EKEYPASS,     /* private key does not decrypt with the key password */
    KM_STORE_EUNSUPPORTED, /* JCEKS, other key protection, other certificate types */
    KM_STORE_ENOKEY,       /* key store without exactly one private key */
    KM_STORE_ENOCERT,      /* trust store without a certificate */
} km_store_err_t;

/* What a store yields, each a NUL-terminated PEM string owned by the struct, or NULL. */
typedef struct km_store {
    char *ca_pem;   /* trusted certificates */
    char *cert_pem; /* the private key's certificate chain, leaf first */
    char *key_pem;  /* the private key, unencrypted PKCS#8 */
    int nkeys;      /* private-key entries seen */
} km_store_t;

/* The store type named by an ssl.*store.type value (case-insensitive); KM_STORE_UNKNOWN else. */
km_store_type_t km_store_type_parse(const char *name);
/* Type from the file's first bytes, else its extension; Java's default (JKS) when neither tells. */
km_store_type_t km_store_type_sniff(const char *path);

/* Parses a JKS store in buf. `store_pass` (UTF-8; NULL = do not verify, as Java does for a store
 * opened without a password) verifies the integrity digest. With `want_key` the first private
 * key is decrypted with `key_pass`, else `store_pass` (a trust store's keys are left alone). On
 * error returns the code with a sentence in err and leaves `out` empty. */
km_store_err_t km_jks_parse(const unsigned char *buf, size_t len, const char *store_pass, const char *key_pass,
                            bool want_key, km_store_t *out, char *err, size_t errlen);
/* Parses a PKCS#12 store (OpenSSL's PKCS12_parse); `key_pass` is unused there, as PKCS#12
 * stores keytool makes protect keys with the store password. Same contract as km_jks_parse. */
km_store_err_t km_pkcs12_parse(const unsigned char *buf, size_t len, const char *store_pass, km_store_t *out,
                               char *err, size_t errlen);
/* Reads `path` as a store of `type` (JKS or PKCS12). */
km_store_err_t km_store_load(const char *path, km_store_type_t type, const char *store_pass, const char *key_pass,
                             bool want_key, km_store_t *out, char *err, size_t errlen);
/* Certificates in a PEM chain after the first that are not self-signed: intermediate CAs. */
int km_store_intermediates(const char *chain_pem);
/* Frees and wipes the PEM strings (the key is a secret). */
void km_store_free(km_store_t *s);

#endif

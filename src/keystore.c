/* keystore.c — see keystore.h.
 *
 * JKS (sun.security.provider.JavaKeyStore), all big-endian:
 *   u32 magic 0xFEEDFEED, u32 version (1 or 2), u32 entry count, then per entry
 *     u32 tag (1 private key, 2 trusted certificate), UTF alias, u64 creation time (ms),
 *     tag 1: u32 length + EncryptedPrivateKeyInfo DER, u32 chain length, chain certificates
 *     tag 2: one certificate
 *   where a certificate is (version 2 only) UTF type "X.509", then u32 length + DER;
 *   then SHA-1(password as UTF-16BE || "Mighty Aphrodite" || every byte before the digest).
 * UTF is Java's DataOutput.writeUTF: u16 length + modified UTF-8.
 *
 * Private keys use Sun's KeyProtector (OID 1.3.6.1.4.1.42.2.17.1.1): encryptedData is
 * salt(20) || key XOR stream || check(20), the stream being d1 = SHA-1(pw || salt),
 * d(i+1) = SHA-1(pw || d(i)), and check = SHA-1(pw || plain key), pw as UTF-16BE. */
#include "keystore.h"

#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define JKS_MAGIC 0xFEEDFEEDu
#define JCEKS_MAGIC 0xCECECECEu
#define KEY_PROTECTOR_OID "1.3.6.1.4.1.42.2.17.1.1"
#define SHA1_LEN 20

km_store_type_t km_store_type_parse(const char *name) {
    if (!name) return KM_STORE_UNKNOWN;
    if (strcasecmp(name, "PEM") == 0) return KM_STORE_PEM;
    if (strcasecmp(name, "PKCS12") == 0) return KM_STORE_PKCS12;
    if (strcasecmp(name, "JKS") == 0) return KM_STORE_JKS;
    if (strcasecmp(name, "JCEKS") == 0) return KM_STORE_JCEKS;
    return KM_STORE_UNKNOWN;
}

km_store_type_t km_store_type_sniff(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (fp) {
        unsigned char b[10] = {0};
        size_t n = fread(b, 1, sizeof(b), fp);
        fclose(fp);
        if (n >= 4 && b[0] == 0xFE && b[1] == 0xED && b[2] == 0xFE && b[3] == 0xED) return KM_STORE_JKS;
        if (n >= 4 && b[0] == 0xCE && b[1] == 0xCE && b[2] == 0xCE && b[3] == 0xCE) return KM_STORE_JCEKS;
        if (n >= 10 && memcmp(b, "-----BEGIN", 10) == 0) return KM_STORE_PEM;
        if (n >= 1 && b[0] == 0x30) return KM_STORE_PKCS12;
    }
    if (km_str_ends_with(path, ".p12") || km_str_ends_with(path, ".pfx")) return KM_STORE_PKCS12;
    if (km_str_ends_with(path, ".pem") || km_str_ends_with(path, ".crt")) return KM_STORE_PEM;
    return KM_STORE_JKS;
}

int km_store_intermediates(const char *chain_pem) {
    BIO *b = BIO_new_mem_buf(chain_pem, -1);
    int n = 0;
    X509 *x;
    for (int i = 0; (x = PEM_read_bio_X509(b, NULL, NULL, NULL)); i++) {
        if (i > 0 && X509_check_issued(x, x) != X509_V_OK) n++;
        X509_free(x);
    }
    BIO_free(b);
    ERR_clear_error();
    return n;
}

void km_store_free(km_store_t *s) {
    if (s->key_pem) OPENSSL_cleanse(s->key_pem, strlen(s->key_pem));
    free(s->ca_pem);
    free(s->cert_pem);
    free(s->key_pem);
    memset(s, 0, sizeof(*s));
}

static km_store_err_t fail(km_store_err_t e, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static km_store_err_t fail(km_store_err_t e, char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return e;
}

/* A bounds-checked reader over the store bytes; any overrun sets `bad`. */
typedef struct reader {
    const unsigned char *p, *end;
    bool bad;
} reader_t;

static bool need(reader_t *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) return !(r->bad = true);
    return true;
}

static uint32_t u32(reader_t *r) {
    if (!need(r, 4)) return 0;
    uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return v;
}

static const unsigned char *bytes(reader_t *r, size_t n) {
    if (!need(r, n)) return NULL;
    const unsigned char *b = r->p;
    r->p += n;
    return b;
}

/* Java's writeUTF string: returns its bytes (not NUL-terminated) and length. */
static const unsigned char *utf(reader_t *r, size_t *len) {
    if (!need(r, 2)) return NULL;
    *len = (size_t)r->p[0] << 8 | r->p[1];
    r->p += 2;
    return bytes(r, *len);
}

/* Java's char[] password as the UTF-16BE bytes JKS hashes. Returns a malloc'd buffer. */
static unsigned char *utf16be(const char *s, size_t *outlen) {
    size_t n = strlen(s), o = 0;
    unsigned char *out = km_xmalloc(n * 4 + 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int extra;
        if (*p < 0x80) cp = *p, extra = 0;
        else if ((*p & 0xE0) == 0xC0) cp = *p & 0x1F, extra = 1;
        else if ((*p & 0xF0) == 0xE0) cp = *p & 0x0F, extra = 2;
        else if ((*p & 0xF8) == 0xF0) cp = *p & 0x07, extra = 3;
        else cp = 0xFFFD, extra = 0; /* invalid byte: what Java's decoder substitutes */
        p++;
        for (int i = 0; i < extra; i++, p++) {
            if ((*p & 0xC0) != 0x80) { cp = 0xFFFD; break; }
            cp = cp << 6 | (*p & 0x3F);
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            uint32_t hi = 0xD800 + (cp >> 10), lo = 0xDC00 + (cp & 0x3FF);
            out[o++] = (unsigned char)(hi >> 8), out[o++] = (unsigned char)hi;
            out[o++] = (unsigned char)(lo >> 8), out[o++] = (unsigned char)lo;
        } else {
            out[o++] = (unsigned char)(cp >> 8), out[o++] = (unsigned char)cp;
        }
    }
    *outlen = o;
    return out;
}

/* Appends DER certificate `der` as PEM to `mem` (NULL: only checks it); false if it is not an
 * X.509 certificate. */
static bool append_cert(BIO *mem, const unsigned char *der, size_t len) {
    const unsigned char *q = der;
    X509 *x = d2i_X509(NULL, &q, (long)len);
    bool ok = x && q == der + len && (!mem || PEM_write_bio_X509(mem, x));
    X509_free(x);
    return ok;
}

static char *bio_string(BIO *mem) {
    char *data;
    long len = BIO_get_mem_data(mem, &data);
    return len > 0 ? km_xstrndup(data, (size_t)len) : NULL;
}

/* Reads one certificate of an entry (type string in version 2). NULL with `bad` on overrun. */
static const unsigned char *cert_der(reader_t *r, uint32_t version, size_t *len, bool *x509) {
    *x509 = true;
    if (version == 2) {
        size_t tlen;
        const unsigned char *type = utf(r, &tlen);
        if (!type) return NULL;
        *x509 = tlen == 5 && memcmp(type, "X.509", 5) == 0;
    }
    *len = u32(r);
    return bytes(r, *len);
}

/* Sun's KeyProtector.recover: the PKCS#8 private key as unencrypted PEM in *pem. */
static km_store_err_t recover_key(const unsigned char *epki, size_t len, const unsigned char *pw, size_t pwlen,
                                  char **pem, char *err, size_t errlen) {
    const unsigned char *q = epki;
    X509_SIG *sig = d2i_X509_SIG(NULL, &q, (long)len);
    if (!sig) return fail(KM_STORE_EFORMAT, err, errlen, "a private-key entry is not an EncryptedPrivateKeyInfo");
    const X509_ALGOR *alg;
    const ASN1_OCTET_STRING *octets;
    X509_SIG_get0(sig, &alg, &octets);
    const ASN1_OBJECT *oid;
    X509_ALGOR_get0(&oid, NULL, NULL, alg);
    char oidtxt[80];
    OBJ_obj2txt(oidtxt, sizeof(oidtxt), oid, 1);
    if (strcmp(oidtxt, KEY_PROTECTOR_OID) != 0) {
        X509_SIG_free(sig);
        return fail(KM_STORE_EUNSUPPORTED, err, errlen,
                    "a private key is protected with algorithm %s, not the JKS key protection (" KEY_PROTECTOR_OID ")", oidtxt);
    }
    const unsigned char *enc = ASN1_STRING_get0_data(octets);
    int enclen = ASN1_STRING_length(octets);
    if (enclen < 2 * SHA1_LEN + 1) {
        X509_SIG_free(sig);
        return fail(KM_STORE_EFORMAT, err, errlen, "a protected private key is %d bytes, too short to hold one", enclen);
    }
    size_t n = (size_t)enclen - 2 * SHA1_LEN;
    const unsigned char *salt = enc, *cipher = enc + SHA1_LEN, *check = enc + SHA1_LEN + n;
    unsigned char *plain = km_xmalloc(n), digest[SHA1_LEN];
    memcpy(digest, salt, SHA1_LEN);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    for (size_t off = 0; off < n; off += SHA1_LEN) {
        EVP_DigestInit_ex(md, EVP_sha1(), NULL);
        EVP_DigestUpdate(md, pw, pwlen);
        EVP_DigestUpdate(md, digest, SHA1_LEN);
        EVP_DigestFinal_ex(md, digest, NULL);
        for (size_t i = 0; i < SHA1_LEN && off + i < n; i++) plain[off + i] = cipher[off + i] ^ digest[i];
    }
    EVP_DigestInit_ex(md, EVP_sha1(), NULL);
    EVP_DigestUpdate(md, pw, pwlen);
    EVP_DigestUpdate(md, plain, n);
    EVP_DigestFinal_ex(md, digest, NULL);
    EVP_MD_CTX_free(md);
    X509_SIG_free(sig);
    km_store_err_t rc = KM_STORE_OK;
    if (CRYPTO_memcmp(digest, check, SHA1_LEN) != 0) {
        rc = fail(KM_STORE_EKEYPASS, err, errlen, "the private key does not decrypt with the key password");
    } else {
        q = plain;
        PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, (long)n);
        EVP_PKEY *pkey = p8 ? EVP_PKCS82PKEY(p8) : NULL;
        BIO *mem = BIO_new(BIO_s_mem());
        if (!pkey || !PEM_write_bio_PKCS8_PRIV_KEY_INFO(mem, p8)) {
            rc = fail(KM_STORE_EFORMAT, err, errlen, "the decrypted private key is not a PKCS#8 key OpenSSL can use");
        } else {
            *pem = bio_string(mem);
        }
        char *data;
        long blen = BIO_get_mem_data(mem, &data);
        if (blen > 0) OPENSSL_cleanse(data, (size_t)blen);
        BIO_free(mem);
        EVP_PKEY_free(pkey);
        PKCS8_PRIV_KEY_INFO_free(p8);
    }
    OPENSSL_cleanse(plain, n);
    free(plain);
    ERR_clear_error();
    return rc;
}

km_store_err_t km_jks_parse(const unsigned char *buf, size_t len, const char *store_pass, const char *key_pass,
                            bool want_key, km_store_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    reader_t r = {buf, buf + len, false};
    uint32_t magic = u32(&r);
    if (r.bad || (magic != JKS_MAGIC && magic != JCEKS_MAGIC))
        return fail(KM_STORE_EFORMAT, err, errlen, "not a JKS store (no 0xFEEDFEED magic number)");
    if (magic == JCEKS_MAGIC)
        return fail(KM_STORE_EUNSUPPORTED, err, errlen, "a JCEKS store, which kmirror does not read");
    if (len < 12 + SHA1_LEN) return fail(KM_STORE_EFORMAT, err, errlen, "a truncated JKS store (%zu bytes)", len);
    uint32_t version = u32(&r);
    if (version != 1 && version != 2)
        return fail(KM_STORE_EUNSUPPORTED, err, errlen, "a JKS store of version %u (kmirror reads versions 1 and 2)", version);
    /* Integrity first, as Java does: nothing is trusted from a store that fails it. */
    r.end = buf + len - SHA1_LEN;
    if (store_pass) {
        size_t pwlen;
        unsigned char *pw = utf16be(store_pass, &pwlen), digest[SHA1_LEN];
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha1(), NULL);
        EVP_DigestUpdate(md, pw, pwlen);
        EVP_DigestUpdate(md, "Mighty Aphrodite", 16);
        EVP_DigestUpdate(md, buf, len - SHA1_LEN);
        EVP_DigestFinal_ex(md, digest, NULL);
        EVP_MD_CTX_free(md);
        OPENSSL_cleanse(pw, pwlen);
        free(pw);
        if (CRYPTO_memcmp(digest, r.end, SHA1_LEN) != 0)
            return fail(KM_STORE_EINTEGRITY, err, errlen,
                        "the integrity check failed: the password is wrong, or the store was tampered with");
    }
    uint32_t count = u32(&r);
    const char *kp = key_pass ? key_pass : store_pass;
    size_t kpwlen = 0;
    unsigned char *kpw = kp ? utf16be(kp, &kpwlen) : NULL;
    BIO *ca = BIO_new(BIO_s_mem()), *chain = BIO_new(BIO_s_mem());
    km_store_err_t rc = KM_STORE_OK;
    for (uint32_t i = 0; i < count && rc == KM_STORE_OK; i++) {
        uint32_t tag = u32(&r);
        size_t alen;
        const unsigned char *alias = utf(&r, &alen);
        bytes(&r, 8); /* creation time */
        if (r.bad) break;
        int ashow = alen > 64 ? 64 : (int)alen;
        if (tag == 1) {
            size_t klen = u32(&r);
            const unsigned char *key = bytes(&r, klen);
            uint32_t nchain = u32(&r);
            if (r.bad) break;
            bool first = out->nkeys == 0;
            out->nkeys++;
            for (uint32_t c = 0; c < nchain && rc == KM_STORE_OK; c++) {
                size_t clen;
                bool x509;
                const unsigned char *der = cert_der(&r, version, &clen, &x509);
                if (r.bad) break;
                if (!x509) rc = fail(KM_STORE_EUNSUPPORTED, err, errlen, "entry '%.*s' holds a certificate that is not X.509", ashow, alias);
                else if (!append_cert(first ? chain : NULL, der, clen))
                    rc = fail(KM_STORE_EFORMAT, err, errlen, "entry '%.*s' holds an unreadable certificate", ashow, alias);
                /* Java trusts the end certificate of a key entry in a trust store too. */
                else if (c == 0) append_cert(ca, der, clen);
            }
            if (rc != KM_STORE_OK || r.bad || !first || !want_key) continue;
            if (!kpw) {
                rc = fail(KM_STORE_EKEYPASS, err, errlen, "private key '%.*s' needs a password to decrypt it", ashow, alias);
                continue;
            }
            char e2[256];
            rc = recover_key(key, klen, kpw, kpwlen, &out->key_pem, e2, sizeof(e2));
            if (rc != KM_STORE_OK) fail(rc, err, errlen, "private key '%.*s': %s", ashow, alias, e2);
        } else if (tag == 2) {
            size_t clen;
            bool x509;
            const unsigned char *der = cert_der(&r, version, &clen, &x509);
            if (r.bad) break;
            if (!x509) rc = fail(KM_STORE_EUNSUPPORTED, err, errlen, "entry '%.*s' holds a certificate that is not X.509", ashow, alias);
            else if (!append_cert(ca, der, clen))
                rc = fail(KM_STORE_EFORMAT, err, errlen, "entry '%.*s' holds an unreadable certificate", ashow, alias);
        } else {
            rc = fail(KM_STORE_EUNSUPPORTED, err, errlen, "entry '%.*s' is of type %u (JKS has private-key and trusted-certificate entries; a secret-key entry needs JCEKS or PKCS12)",
                      ashow, alias, tag);
        }
    }
    if (rc == KM_STORE_OK && (r.bad || r.p != r.end))
        rc = fail(KM_STORE_EFORMAT, err, errlen, "a malformed JKS store (entries do not add up to its length)");
    if (rc == KM_STORE_OK) {
        out->ca_pem = bio_string(ca);
        out->cert_pem = bio_string(chain);
    }
    BIO_free(ca);
    BIO_free(chain);
    if (kpw) OPENSSL_cleanse(kpw, kpwlen);
    free(kpw);
    ERR_clear_error();
    if (rc != KM_STORE_OK) km_store_free(out);
    return rc;
}

km_store_err_t km_pkcs12_parse(const unsigned char *buf, size_t len, const char *store_pass, km_store_t *out,
                               char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    const unsigned char *q = buf;
    PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)len);
    if (!p12) {
        ERR_clear_error();
        return fail(KM_STORE_EFORMAT, err, errlen, "not a PKCS#12 store");
    }
    km_store_err_t rc = KM_STORE_OK;
    if (!PKCS12_verify_mac(p12, store_pass ? store_pass : "", -1) &&
        !(store_pass == NULL && PKCS12_verify_mac(p12, NULL, 0))) {
        PKCS12_free(p12);
        ERR_clear_error();
        return fail(KM_STORE_EINTEGRITY, err, errlen, "the integrity check failed: the password is wrong, or the store was tampered with");
    }
    EVP_PKEY *pkey = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *cas = NULL;
    if (!PKCS12_parse(p12, store_pass ? store_pass : "", &pkey, &cert, &cas)) {
        unsigned long e = ERR_get_error();
        rc = fail(KM_STORE_EFORMAT, err, errlen, "OpenSSL cannot read it: %s", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown reason");
    } else {
        BIO *ca = BIO_new(BIO_s_mem()), *chain = BIO_new(BIO_s_mem()), *key = BIO_new(BIO_s_mem());
        out->nkeys = pkey ? 1 : 0;
        if (cert) {
            PEM_write_bio_X509(chain, cert);
            PEM_write_bio_X509(ca, cert);
        }
        for (int i = 0; cas && i < sk_X509_num(cas); i++) {
            PEM_write_bio_X509(ca, sk_X509_value(cas, i));
            if (pkey) PEM_write_bio_X509(chain, sk_X509_value(cas, i));
        }
        if (pkey) PEM_write_bio_PKCS8PrivateKey(key, pkey, NULL, NULL, 0, NULL, NULL);
        out->ca_pem = bio_string(ca);
        out->cert_pem = pkey ? bio_string(chain) : NULL;
        out->key_pem = bio_string(key);
        char *data;
        long klen = BIO_get_mem_data(key, &data);
        if (klen > 0) OPENSSL_cleanse(data, (size_t)klen);
        BIO_free(ca);
        BIO_free(chain);
        BIO_free(key);
    }
    EVP_PKEY_free(pkey);
    X509_free(cert);
    sk_X509_pop_free(cas, X509_free);
    PKCS12_free(p12);
    ERR_clear_error();
    return rc;
}

km_store_err_t km_store_load(const char *path, km_store_type_t type, const char *store_pass, const char *key_pass,
                             bool want_key, km_store_t *out, char *err, size_t errlen) {
    memset(out, 0, sizeof(*out));
    FILE *fp = fopen(path, "rb");
    if (!fp) return fail(KM_STORE_EIO, err, errlen, "cannot open it: %s", strerror(errno));
    /* Stores are small; a size cap keeps a wrong path (a log file, a device) from being slurped. */
    enum { MAX_STORE = 16 << 20 };
    unsigned char *buf = km_xmalloc(MAX_STORE);
    size_t len = fread(buf, 1, MAX_STORE, fp);
    bool too_big = len == MAX_STORE, read_err = ferror(fp) != 0;
    fclose(fp);
    km_store_err_t rc;
    if (read_err) rc = fail(KM_STORE_EIO, err, errlen, "cannot read it");
    else if (too_big) rc = fail(KM_STORE_EFORMAT, err, errlen, "it is larger than 16 MiB, too large for a key or trust store");
    else if (type == KM_STORE_PKCS12) rc = km_pkcs12_parse(buf, len, store_pass, out, err, errlen);
    else rc = km_jks_parse(buf, len, store_pass, key_pass, want_key, out, err, errlen);
    free(buf);
    return rc;
}

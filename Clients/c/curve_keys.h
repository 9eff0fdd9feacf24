/* CurveZMQ key files for the C client (internal; not installed with zserve_client.h).
 *
 * Reads the files `zserve keygen --out PREFIX` writes, with the rules of the Swift reader
 * (Sources/ZeroMQ/CurveCertificate.swift): a ZeroMQ/CZMQ certificate with `public-key = "..."` and, in PREFIX.key,
 * `secret-key = "..."` lines, or a file holding one bare 40-character Z85 key. Blank lines and lines starting with '#'
 * are ignored. A secret key file that group or others may access is refused, and its public-key, when present, must
 * be the one derived from its secret-key.
 *
 * Keys are Z85 text: 40 characters and a NUL. Errors are written as "PATH: reason" into a caller's buffer
 * (message_size bytes, truncated to fit; nothing is written when message_size is 0). No message contains key text.
 */
#ifndef ZSERVE_CURVE_KEYS_H
#define ZSERVE_CURVE_KEYS_H

#include <stddef.h>

/* A Z85 key and its terminating NUL. */
#define CURVE_KEY_TEXT_SIZE 41

/* Reads the public key of a public (or secret) key file into public_key; a file with only a secret-key yields the
 * public key derived from it. Returns 0, or -1 with a message. */
int curve_read_public_key(const char *path, char public_key[CURVE_KEY_TEXT_SIZE], char *message,
                          size_t message_size);

/* Reads the key pair of a secret key file. Returns 0, or -1 with a message (then both keys are zeroed). The file's
 * bytes are overwritten before they are freed. */
int curve_read_key_pair(const char *path, char public_key[CURVE_KEY_TEXT_SIZE], char secret_key[CURVE_KEY_TEXT_SIZE],
                        char *message, size_t message_size);

/* Overwrites size bytes with zeros in a way the compiler may not drop as a dead store (for secret keys). */
void curve_wipe(void *bytes, size_t size);

#endif

/* ZServe C client: runs a model on one float32 tensor over ZeroMQ (wire protocol: docs/protocol.md).
 *
 * A client owns a ZeroMQ context and one REQ socket, so it carries one request at a time: use each client from one
 * thread at a time (separate clients may run in separate threads).
 *
 * Retry policy (that of the Swift and Python clients): the socket is connected to every endpoint the client was given
 * (servers offering the same models) and sends each request to one whose connection is complete, round-robin. When a
 * connection is lost while a request waits for its reply (a server stopped or crashed), the request is sent again at
 * once on a new socket, so to a server still connected, up to `retries` times (zserve_set_retries, default
 * ZSERVE_DEFAULT_RETRIES); the timeout covers all attempts. Predict only reads, so running it twice is harmless.
 *
 * Ownership: the library never keeps a pointer the caller passed in (the endpoints and CURVE keys are copied; request
 * arguments are read only during the call). Everything in a zserve_result_t belongs to the result and is released by
 * zserve_result_free; a client is released by zserve_close.
 */
#ifndef ZSERVE_CLIENT_H
#define ZSERVE_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* gRPC status codes, with gRPC's numbers (zserve.v1.Code in Protos/zserve/v1/status.proto). */
enum zserve_code {
    ZSERVE_OK = 0,
    ZSERVE_CANCELLED = 1,
    ZSERVE_UNKNOWN = 2,
    ZSERVE_INVALID_ARGUMENT = 3,
    ZSERVE_DEADLINE_EXCEEDED = 4,
    ZSERVE_NOT_FOUND = 5,
    ZSERVE_ALREADY_EXISTS = 6,
    ZSERVE_PERMISSION_DENIED = 7,
    ZSERVE_RESOURCE_EXHAUSTED = 8,
    ZSERVE_FAILED_PRECONDITION = 9,
    ZSERVE_ABORTED = 10,
    ZSERVE_OUT_OF_RANGE = 11,
    ZSERVE_UNIMPLEMENTED = 12,
    ZSERVE_INTERNAL = 13,
    ZSERVE_UNAVAILABLE = 14,
    ZSERVE_DATA_LOSS = 15,
    ZSERVE_UNAUTHENTICATED = 16,
};

/* Room for a request id and its terminating NUL. */
#define ZSERVE_REQUEST_ID_SIZE 64

/* Enough room for a zserve_use_curve message (a longer one is truncated). */
#define ZSERVE_MESSAGE_SIZE 1024

/* How often a client resends a request whose connection was lost, unless zserve_set_retries says otherwise. */
#define ZSERVE_DEFAULT_RETRIES 2

typedef struct zserve_client zserve_client_t;

/* What zserve_predict_f32 reports. The call overwrites every field without freeing anything, so release a result
 * with zserve_result_free before reusing it. Fields marked "OK only" are zero/NULL unless the call returned ZSERVE_OK.
 */
typedef struct {
    char request_id[ZSERVE_REQUEST_ID_SIZE]; /* the id the request carried (the server echoes it in its logs) */
    char *message;      /* the server's status message, or the client's own for errors it detects; never NULL after
                           a call */
    int64_t version;    /* OK only: the model version that computed the output */
    char *output_name;  /* OK only: the name of the first output */
    int64_t *shape;     /* OK only: its shape, rank dimensions */
    size_t rank;
    float *data;        /* OK only: its count elements, row-major, in the host's byte order */
    size_t count;
} zserve_result_t;

/* Connects to a ZServe frontend, e.g. "tcp://127.0.0.1:5555": zserve_connect_many with one endpoint. */
zserve_client_t *zserve_connect(const char *endpoint, int timeout_ms);

/* Connects to `count` ZServe frontends offering the same models (see the retry policy above). ZeroMQ connects in the
 * background, so this does not wait for any server, and one that is down is tried again every 100 ms. timeout_ms
 * bounds each call: sending (which waits for a completed connection), the wait for the reply and any resends
 * (-1: wait forever).
 * Returns a client to release with zserve_close, or NULL with errno set: EINVAL when endpoints is NULL, count is 0 or
 * an endpoint is NULL; what zmq_connect sets for a malformed endpoint; ENOMEM; ...
 */
zserve_client_t *zserve_connect_many(const char *const *endpoints, size_t count, int timeout_ms);

/* Sets how often a request whose connection was lost while it waited is sent again (0: never; the call then waits
 * for a reply until its timeout). Returns ZSERVE_OK, or ZSERVE_INVALID_ARGUMENT for a NULL client or a negative
 * number (the client is then unchanged). */
int zserve_set_retries(zserve_client_t *client, int retries);

/* Makes the client authenticate with CurveZMQ, for a server started with `zserve serve --server-key F
 * --frontend-keys DIR`: reads the server's public key file and this client's secret key file (both written by
 * `zserve keygen --out PREFIX`: PREFIX.pub and PREFIX.key), then replaces the client's socket by one that is a CURVE
 * client with those keys (the same server key for every endpoint). Every socket the client opens later (after a
 * timeout, a failed exchange or a lost connection) uses them too and connects to every endpoint.
 * Call it right after zserve_connect, before the first request.
 *
 * Key files are read as the Swift client reads them: a ZeroMQ certificate (`public-key = "..."`, and in a secret key
 * file `secret-key = "..."`; lines starting with '#' are comments) or one bare 40-character Z85 key. A secret key
 * file that group or others may access is refused (chmod 600), and its public-key must belong to its secret-key.
 *
 * Returns ZSERVE_OK; ZSERVE_INVALID_ARGUMENT for a NULL argument or a key file that is missing, unreadable, malformed
 * or readable by others (the client is then unchanged); ZSERVE_UNIMPLEMENTED when libzmq was built without CURVE;
 * ZSERVE_UNAVAILABLE when the new socket cannot be opened (the keys are kept and the next request retries). errno is
 * not part of the result. Unless message is NULL, writes a NUL-terminated description into it (message_size bytes,
 * truncated to fit; ZSERVE_MESSAGE_SIZE is plenty): "FILE: reason" for a key file, "" on success. No message contains
 * a key.
 *
 * The secret key stays in the client (and in libzmq's socket) until zserve_close, which overwrites the client's copy.
 * A server that refuses the key, or wants CURVE from a client without keys, never replies: zserve_predict_f32 then
 * returns ZSERVE_UNAUTHENTICATED when the timeout passes (see below).
 */
int zserve_use_curve(zserve_client_t *client, const char *server_public_key_file, const char *client_key_file,
                     char *message, size_t message_size);

/* Runs version `version` of `model` (<= 0: the model's default version) on one float32 input: `input_name`, with
 * `rank` dimensions `shape` and product(shape) elements `data` in row-major order.
 *
 * Returns the status code (ZSERVE_OK is 0) and fills *out (see zserve_result_t). Besides the server's codes:
 * ZSERVE_DEADLINE_EXCEEDED when sending or the reply timed out (a connection lost after the retries ran out does not
 * end the call: the request may be on a connection still alive, so it waits until the timeout), ZSERVE_UNAVAILABLE
 * when it failed otherwise (the socket is then replaced, so the client stays usable and a late reply is discarded),
 * ZSERVE_UNAUTHENTICATED instead
 * of DEADLINE_EXCEEDED when the server refused the connection's security handshake (its message says whether the
 * server refused this client's key, wants CURVE from a client without keys, or the CURVE handshake failed, as with a
 * wrong server public key), ZSERVE_INTERNAL for a reply that breaks the protocol, ZSERVE_UNIMPLEMENTED
 * when the first output is not float32, ZSERVE_INVALID_ARGUMENT for a NULL argument or a negative dimension, and
 * ZSERVE_RESOURCE_EXHAUSTED when memory runs out.
 */
int zserve_predict_f32(zserve_client_t *client, const char *model, int64_t version, const char *input_name,
                       const float *data, const int64_t *shape, size_t rank, zserve_result_t *out);

/* Releases what a result owns and zeroes it; safe on a zeroed result, twice in a row, and on NULL. */
void zserve_result_free(zserve_result_t *result);

/* Closes the socket, dropping a request still unsent, overwrites the client's CURVE secret key and releases the
 * client; NULL is ignored. */
void zserve_close(zserve_client_t *client);

/* The name of a status code, e.g. "NOT_FOUND"; "CODE_<number>" for a number zserve.v1.Code does not define (as the
 * Swift and Python clients name it). A known name is static; an unknown one is valid until the next call on this
 * thread. */
const char *zserve_code_name(int code);

#ifdef __cplusplus
}
#endif

#endif

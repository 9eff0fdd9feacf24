/* ZServe C client over a ZeroMQ REQ socket; zserve_client.h describes the API and who owns what. */
/* clock_gettime and CLOCK_MONOTONIC are POSIX, not C11. */
#define _POSIX_C_SOURCE 200809L

#include "zserve_client.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "curve_keys.h"
#include "zserve/v1/inference.pb-c.h"
#include "zserve/v1/status.pb-c.h"

#define PREDICT_METHOD "zserve.v1.Inference/Predict"
#define SESSION_BYTES 16
/* The handshake failures that tell a refused or missing CURVE key from a silent server. */
#define HANDSHAKE_FAILURES \
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
/* What the monitor watches: failed handshakes, and connections made and lost (a lost one may hold the request). */
#define MONITORED_EVENTS (HANDSHAKE_FAILURES | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
/* How long the wait for a reply sleeps before it looks at the monitor again. */
#define SLICE_MS 50

/* raw_data holds IEEE-754 binary32 values; the byte order is handled explicitly below. */
_Static_assert(sizeof(float) == 4, "float must be 32 bits wide");

struct zserve_client {
    void *context;  /* owned; one per client, so clients share no state */
    void *socket;   /* owned REQ socket; NULL when reopening it failed, retried by the next request */
    void *monitor;  /* owned PAIR socket receiving the REQ socket's connection events; NULL when socket is */
    unsigned monitors; /* sockets opened so far: each monitor gets its own inproc endpoint */
    char **endpoints;      /* owned copies, endpoint_count of them: every socket connects to all */
    size_t endpoint_count;
    char *endpoint_list;   /* owned: the endpoints joined by ", ", for messages */
    int retries;           /* resends of a request whose connection was lost (zserve_set_retries) */
    /* The peer addresses of the socket's connections that completed their handshake (the monitor's view), at most
     * endpoint_count: only losing one of those can lose a request. Owned strings; emptied when the socket is. */
    char **established;
    size_t established_count;
    int handshake_failure; /* the socket's latest failed handshake event (HANDSHAKE_FAILURES), 0 for none */
    uint32_t zap_status;   /* its ZAP status code, for ZMQ_EVENT_HANDSHAKE_FAILED_AUTH */
    int curve;      /* nonzero once zserve_use_curve succeeded: every socket opened since is a CURVE client */
    char server_public_key[CURVE_KEY_TEXT_SIZE]; /* Z85 */
    char public_key[CURVE_KEY_TEXT_SIZE];        /* Z85 */
    char secret_key[CURVE_KEY_TEXT_SIZE];        /* Z85; never printed, wiped by zserve_close */
    int timeout_ms;
    char session[2 * SESSION_BYTES + 1]; /* random hex: request ids are unique across clients and processes */
    uint64_t requests;                   /* requests made so far: request ids are unique within the client */
};

/* One float32 input as the caller passed it (borrowed), with its element count. */
struct f32_input {
    const char *name;
    const float *data;
    const int64_t *shape;
    size_t rank;
    size_t count;
};

/* The reply frames after the empty delimiter, which the REQ socket strips: [Status][response]. */
struct reply_frames {
    zmq_msg_t status;
    zmq_msg_t response;
};

/* The message when not even the message can be allocated. Static, so release_message must not free it. */
static char out_of_memory[] = "out of memory";

/* ---- small helpers ---- */

static char *copy_string(const char *text) {
    size_t size = strlen(text) + 1;
    char *copy = malloc(size);
    if (copy) {
        memcpy(copy, text, size);
    }
    return copy;
}

/* calloc(count, size), but never asking for zero bytes, whose result may be NULL even though nothing failed. */
static void *allocate_array(size_t count, size_t size) {
    return calloc(count > 0 ? count : 1, size);
}

/* Multiplies out a float32 tensor's shape into *count. Returns -1 for a negative dimension or when the byte count
 * would not fit in size_t, so that count * sizeof(float) never overflows. */
static int element_count(const int64_t *shape, size_t rank, size_t *count) {
    size_t product = 1;
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && product > SIZE_MAX / sizeof(float) / (uint64_t)shape[i])) {
            return -1;
        }
        product *= (size_t)shape[i];
    }
    *count = product;
    return 0;
}

/* raw_data is little-endian whatever the host's byte order (tensor.proto). */
static void encode_f32(const float *values, size_t count, uint8_t *bytes) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &values[i], sizeof bits);
        for (size_t b = 0; b < 4; b++) {
            bytes[4 * i + b] = (uint8_t)(bits >> (8 * b));
        }
    }
}

static void decode_f32(const uint8_t *bytes, size_t count, float *values) {
    for (size_t i = 0; i < count; i++) {
        uint32_t bits = 0;
        for (size_t b = 0; b < 4; b++) {
            bits |= (uint32_t)bytes[4 * i + b] << (8 * b);
        }
        memcpy(&values[i], &bits, sizeof bits);
    }
}

/* ---- results ---- */

static void release_message(zserve_result_t *result) {
    if (result->message != out_of_memory) {
        free(result->message);
    }
    result->message = NULL;
}

static void release_output(zserve_result_t *result) {
    free(result->output_name);
    free(result->shape);
    free(result->data);
    result->version = 0;
    result->output_name = NULL;
    result->shape = NULL;
    result->rank = 0;
    result->data = NULL;
    result->count = 0;
}

/* Replaces out->message with a printf-formatted one and returns code, so callers can `return report(...)`. */
static int report(zserve_result_t *out, int code, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int length = vsnprintf(NULL, 0, format, args);
    va_end(args);
    char *message = length >= 0 ? malloc((size_t)length + 1) : NULL;
    if (message) {
        va_start(args, format);
        vsnprintf(message, (size_t)length + 1, format, args);
        va_end(args);
    }
    release_message(out);
    out->message = message ? message : out_of_memory;
    return code;
}

void zserve_result_free(zserve_result_t *result) {
    if (result) {
        release_output(result);
        release_message(result);
        memset(result, 0, sizeof *result);
    }
}

const char *zserve_code_name(int code) {
    const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value(&zserve__v1__code__descriptor, code);
    if (value) {
        return value->name;
    }
    static _Thread_local char unknown[24];
    snprintf(unknown, sizeof unknown, "CODE_%d", code);
    return unknown;
}

/* ---- connection ---- */

/* Fills session with hex digits from the system's random source; -1 with errno set if it cannot be read. */
static int read_session(char *session) {
    unsigned char bytes[SESSION_BYTES];
    FILE *source = fopen("/dev/urandom", "rb");
    if (!source) {
        return -1;
    }
    size_t got = fread(bytes, 1, sizeof bytes, source);
    fclose(source);
    if (got != sizeof bytes) {
        errno = EIO;
        return -1;
    }
    for (size_t i = 0; i < sizeof bytes; i++) {
        snprintf(session + 2 * i, 3, "%02x", bytes[i]);
    }
    return 0;
}

/* Sets the client's CURVE keys on a socket not yet connected. */
static int set_curve_keys(const zserve_client_t *client, void *socket) {
    size_t length = CURVE_KEY_TEXT_SIZE - 1; /* 40 characters: libzmq reads them as Z85 */
    return zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, client->server_public_key, length) == 0 &&
                   zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, client->public_key, length) == 0 &&
                   zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, client->secret_key, length) == 0
               ? 0
               : -1;
}

/* Stops monitoring and closes the REQ socket and its monitor; each may be NULL. */
static void close_socket(zserve_client_t *client) {
    if (client->socket) {
        zmq_socket_monitor(client->socket, NULL, 0);
        zmq_close(client->socket);
    }
    if (client->monitor) {
        zmq_close(client->monitor);
    }
    client->socket = NULL;
    client->monitor = NULL;
    for (size_t i = 0; i < client->established_count; i++) {
        free(client->established[i]);
    }
    client->established_count = 0;
    client->handshake_failure = 0;
    client->zap_status = 0;
}

/* Connects the socket to every endpoint; 0, or -1 with errno set. */
static int connect_all(zserve_client_t *client) {
    for (size_t i = 0; i < client->endpoint_count; i++) {
        if (zmq_connect(client->socket, client->endpoints[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Opens a REQ socket (a CURVE client when the client has keys) with a monitor of its connections and connects it to
 * every endpoint. ZMQ_IMMEDIATE: requests go round-robin to connections that completed their handshake only, so none
 * waits on a server that is down. Returns 0, or -1 with errno set and both sockets NULL. */
static int open_socket(zserve_client_t *client) {
    char monitor_endpoint[48];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://zserve-connections-%u", client->monitors++);
    int linger = 0; /* closing must not wait for a request the server never took */
    int immediate = 1;
    client->socket = zmq_socket(client->context, ZMQ_REQ);
    client->monitor = client->socket ? zmq_socket(client->context, ZMQ_PAIR) : NULL;
    if (client->monitor && zmq_setsockopt(client->socket, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_setsockopt(client->socket, ZMQ_IMMEDIATE, &immediate, sizeof immediate) == 0 &&
        zmq_setsockopt(client->socket, ZMQ_RCVTIMEO, &client->timeout_ms, sizeof client->timeout_ms) == 0 &&
        (!client->curve || set_curve_keys(client, client->socket) == 0) &&
        zmq_socket_monitor(client->socket, monitor_endpoint, MONITORED_EVENTS) == 0 &&
        zmq_setsockopt(client->monitor, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_connect(client->monitor, monitor_endpoint) == 0 && connect_all(client) == 0) {
        return 0;
    }
    int error = errno;
    close_socket(client);
    errno = error;
    return -1;
}

/* A REQ socket that has sent must receive before it sends again, and one left inside a reply would read the rest of
 * it as the next reply, so after any failed exchange the socket is replaced; a late reply then goes nowhere. */
static void reset_socket(zserve_client_t *client) {
    close_socket(client);
    open_socket(client);
}

/* Records a connection that completed its handshake with the peer `address` (size bytes, not NUL-terminated). */
static void note_established(zserve_client_t *client, const void *address, size_t size) {
    char *copy = client->established_count < client->endpoint_count ? malloc(size + 1) : NULL;
    if (copy) { /* out of memory or more connections than endpoints: that connection's loss goes unnoticed */
        memcpy(copy, address, size);
        copy[size] = '\0';
        client->established[client->established_count++] = copy;
    }
}

/* Forgets an established connection to `address`; returns 1 if there was one (a lost connection that may have held
 * the request), 0 for a connection that never completed its handshake (e.g. one whose handshake failed). */
static int note_lost(zserve_client_t *client, const void *address, size_t size) {
    for (size_t i = 0; i < client->established_count; i++) {
        if (strlen(client->established[i]) == size && memcmp(client->established[i], address, size) == 0) {
            free(client->established[i]);
            client->established[i] = client->established[--client->established_count];
            return 1;
        }
    }
    return 0;
}

/* Reads every event the monitor has queued, without waiting: remembers the latest failed handshake (with its ZAP
 * status) and the established connections. Returns 1 if an established connection was lost since the last call. */
static int read_connection_events(zserve_client_t *client) {
    int lost = 0;
    if (!client->monitor) {
        return 0;
    }
    for (;;) {
        /* An event is two frames: 2 bytes of event and 4 of value in the host's byte order, then the peer's
         * address. Both arrive together, so the second is read without waiting too. */
        zmq_msg_t event_frame, address;
        zmq_msg_init(&event_frame);
        if (zmq_msg_recv(&event_frame, client->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&event_frame);
            return lost;
        }
        zmq_msg_init(&address);
        int has_address = zmq_msg_more(&event_frame) && zmq_msg_recv(&address, client->monitor, ZMQ_DONTWAIT) >= 0;
        while (has_address && zmq_msg_more(&address) && zmq_msg_recv(&address, client->monitor, ZMQ_DONTWAIT) >= 0) {
            /* no event has more than two frames; skip any that one day does */
        }
        if (zmq_msg_size(&event_frame) >= 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&event_frame), sizeof event);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&event_frame) + 2, sizeof value);
            if (event & HANDSHAKE_FAILURES) {
                client->handshake_failure = event;
                client->zap_status = value;
            } else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && has_address) {
                note_established(client, zmq_msg_data(&address), zmq_msg_size(&address));
            } else if (event == ZMQ_EVENT_DISCONNECTED && has_address) {
                lost |= note_lost(client, zmq_msg_data(&address), zmq_msg_size(&address));
            }
        }
        zmq_msg_close(&address);
        zmq_msg_close(&event_frame);
    }
}

/* Copies the endpoints into the client, with the list of them for messages; 0, or -1 when out of memory. */
static int copy_endpoints(zserve_client_t *client, const char *const *endpoints, size_t count) {
    client->endpoints = calloc(count, sizeof *client->endpoints);
    client->established = calloc(count, sizeof *client->established);
    if (!client->endpoints || !client->established) {
        return -1;
    }
    size_t list_size = 1;
    for (size_t i = 0; i < count; i++) {
        client->endpoints[i] = copy_string(endpoints[i]);
        if (!client->endpoints[i]) {
            return -1;
        }
        client->endpoint_count++;
        list_size += strlen(endpoints[i]) + 2;
    }
    client->endpoint_list = malloc(list_size);
    if (!client->endpoint_list) {
        return -1;
    }
    client->endpoint_list[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        strcat(strcat(client->endpoint_list, i > 0 ? ", " : ""), endpoints[i]);
    }
    return 0;
}

zserve_client_t *zserve_connect_many(const char *const *endpoints, size_t count, int timeout_ms) {
    int valid = endpoints != NULL && count > 0;
    for (size_t i = 0; valid && i < count; i++) {
        valid = endpoints[i] != NULL;
    }
    if (!valid) {
        errno = EINVAL;
        return NULL;
    }
    zserve_client_t *client = calloc(1, sizeof *client);
    if (!client) {
        return NULL;
    }
    client->timeout_ms = timeout_ms;
    client->retries = ZSERVE_DEFAULT_RETRIES;
    if (copy_endpoints(client, endpoints, count) == 0) {
        client->context = zmq_ctx_new();
    } else {
        errno = ENOMEM;
    }
    if (client->context && read_session(client->session) == 0 && open_socket(client) == 0) {
        return client;
    }
    int error = errno;
    zserve_close(client);
    errno = error;
    return NULL;
}

zserve_client_t *zserve_connect(const char *endpoint, int timeout_ms) {
    return zserve_connect_many(&endpoint, 1, timeout_ms);
}

int zserve_set_retries(zserve_client_t *client, int retries) {
    if (!client || retries < 0) {
        return ZSERVE_INVALID_ARGUMENT;
    }
    client->retries = retries;
    return ZSERVE_OK;
}

/* Writes a printf-formatted message into the caller's buffer (nothing when message_size is 0) and returns code. */
static int describe(char *message, size_t message_size, int code, const char *format, ...) {
    if (message_size > 0) {
        va_list args;
        va_start(args, format);
        vsnprintf(message, message_size, format, args);
        va_end(args);
    }
    return code;
}

int zserve_use_curve(zserve_client_t *client, const char *server_public_key_file, const char *client_key_file,
                     char *message, size_t message_size) {
    if (!message) {
        message_size = 0;
    }
    if (!client || !server_public_key_file || !client_key_file) {
        return describe(message, message_size, ZSERVE_INVALID_ARGUMENT, "client and key files must not be NULL");
    }
    if (zmq_has("curve") != 1) {
        return describe(message, message_size, ZSERVE_UNIMPLEMENTED, "this libzmq was built without CURVE");
    }
    char server_public_key[CURVE_KEY_TEXT_SIZE], public_key[CURVE_KEY_TEXT_SIZE], secret_key[CURVE_KEY_TEXT_SIZE];
    if (curve_read_public_key(server_public_key_file, server_public_key, message, message_size) != 0 ||
        curve_read_key_pair(client_key_file, public_key, secret_key, message, message_size) != 0) {
        return ZSERVE_INVALID_ARGUMENT;
    }
    memcpy(client->server_public_key, server_public_key, sizeof server_public_key);
    memcpy(client->public_key, public_key, sizeof public_key);
    memcpy(client->secret_key, secret_key, sizeof secret_key);
    curve_wipe(secret_key, sizeof secret_key);
    client->curve = 1;
    close_socket(client);
    if (open_socket(client) != 0) {
        return describe(message, message_size, ZSERVE_UNAVAILABLE, "cannot reopen a socket to %s: %s",
                        client->endpoint_list, zmq_strerror(errno));
    }
    return describe(message, message_size, ZSERVE_OK, "%s", "");
}

void zserve_close(zserve_client_t *client) {
    if (!client) {
        return;
    }
    close_socket(client);
    if (client->context) {
        while (zmq_ctx_term(client->context) != 0 && errno == EINTR) {
            /* interrupted by a signal: zmq_ctx_term asks to be called again */
        }
    }
    curve_wipe(client->secret_key, sizeof client->secret_key);
    for (size_t i = 0; i < client->endpoint_count; i++) {
        free(client->endpoints[i]);
    }
    free(client->endpoints);
    free(client->established);
    free(client->endpoint_list);
    free(client);
}

/* ---- one request ---- */

/* Checks the caller's arguments and counts the input's elements into input->count. */
static int prepare_input(const char *model, struct f32_input *input, zserve_result_t *out) {
    if (!model || !input->name || (!input->shape && input->rank > 0)) {
        return report(out, ZSERVE_INVALID_ARGUMENT, "model, input name and shape must not be NULL");
    }
    if (element_count(input->shape, input->rank, &input->count) != 0) {
        return report(out, ZSERVE_INVALID_ARGUMENT, "input %s: negative dimension or too many elements", input->name);
    }
    if (!input->data && input->count > 0) {
        return report(out, ZSERVE_INVALID_ARGUMENT, "input %s: data is NULL", input->name);
    }
    return ZSERVE_OK;
}

/* Serializes a PredictRequest into a new buffer of *length bytes that the caller frees; NULL when out of memory.
 * The message borrows the caller's strings and shape: protobuf-c's fields are not const, but packing only reads. */
static uint8_t *pack_request(const char *id, const char *model, int64_t version, const struct f32_input *input,
                             size_t *length) {
    uint8_t *raw = allocate_array(input->count, sizeof(float));
    if (!raw) {
        return NULL;
    }
    encode_f32(input->data, input->count, raw);

    Zserve__V1__ModelSpec spec = ZSERVE__V1__MODEL_SPEC__INIT;
    spec.name = (char *)model;
    spec.version = version > 0 ? version : 0; /* 0 is not sent, which selects the model's default version */

    Zserve__V1__Tensor tensor = ZSERVE__V1__TENSOR__INIT;
    tensor.name = (char *)input->name;
    tensor.dtype = ZSERVE__V1__DATA_TYPE__DATA_TYPE_FLOAT32;
    tensor.n_shape = input->rank;
    tensor.shape = (int64_t *)input->shape;
    tensor.raw_data.len = input->count * sizeof(float);
    tensor.raw_data.data = raw;

    Zserve__V1__Tensor *inputs[] = {&tensor};
    Zserve__V1__PredictRequest request = ZSERVE__V1__PREDICT_REQUEST__INIT;
    request.id = (char *)id;
    request.model = &spec;
    request.n_inputs = 1;
    request.inputs = inputs;

    *length = zserve__v1__predict_request__get_packed_size(&request);
    uint8_t *packed = allocate_array(*length, 1);
    if (packed) {
        zserve__v1__predict_request__pack(&request, packed);
    }
    free(raw);
    return packed;
}

/* Replaces the socket after a failed send or receive (errno tells why; EAGAIN: the call's time ran out) and reports
 * UNAUTHENTICATED when the monitor saw the server refuse the handshake (the server then never replies),
 * DEADLINE_EXCEEDED for another timeout (as the Swift and Python clients do), UNAVAILABLE otherwise. `resends` is how
 * often the request was sent again after a lost connection. */
static int transport_failure(zserve_client_t *client, const char *what, int resends, zserve_result_t *out) {
    int error = errno;
    read_connection_events(client);
    int handshake = error == EAGAIN ? client->handshake_failure : 0;
    uint32_t zap_status = client->zap_status;
    reset_socket(client);
    if (handshake == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        return report(out, ZSERVE_UNAUTHENTICATED,
                      "the server refused this client's key (ZAP status %" PRIu32
                      "); its .pub must be in the server's allowed keys",
                      zap_status);
    }
    if (handshake) {
        return report(out, ZSERVE_UNAUTHENTICATED, "%s",
                      client->curve ? "the CURVE handshake failed: is the server's public key right?"
                                    : "the endpoint requires CURVE: call zserve_use_curve (zserve-c-predict: give "
                                      "--server-public-key and --client-key)");
    }
    if (error == EAGAIN) {
        if (resends > 0) {
            return report(out, ZSERVE_DEADLINE_EXCEEDED, "%s %s: timed out after %d ms (resent %d times after a lost "
                          "connection)", what, client->endpoint_list, client->timeout_ms, resends);
        }
        return report(out, ZSERVE_DEADLINE_EXCEEDED, "%s %s: timed out after %d ms", what, client->endpoint_list,
                      client->timeout_ms);
    }
    return report(out, ZSERVE_UNAVAILABLE, "%s %s: %s", what, client->endpoint_list, zmq_strerror(error));
}

/* Replaces the socket after a reply with the wrong number of frames and reports INTERNAL. */
static int frame_count_failure(zserve_client_t *client, const char *problem, zserve_result_t *out) {
    reset_socket(client);
    return report(out, ZSERVE_INTERNAL, "malformed reply: %s, expected [Status][response]", problem);
}

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, at least 0; -1 when the deadline is -1 (none). */
static int remaining_ms(int64_t deadline) {
    if (deadline < 0) {
        return -1;
    }
    int64_t left = deadline - now_ms();
    return left > 0 ? (int)(left < INT_MAX ? left : INT_MAX) : 0;
}

/* How waiting for a reply ended. */
enum wait_outcome { WAIT_REPLY, WAIT_LOST, WAIT_FAILED };

/* Waits until the reply is readable or deadline passes (WAIT_FAILED, errno EAGAIN; or another errno when polling
 * failed), looking at the monitor every SLICE_MS: WAIT_LOST when an established connection was lost and
 * `may_resend` (otherwise the wait goes on, since the request may be on a connection still alive). */
static enum wait_outcome await_reply(zserve_client_t *client, int64_t deadline, int may_resend) {
    for (;;) {
        int left = remaining_ms(deadline);
        if (left == 0) {
            errno = EAGAIN;
            return WAIT_FAILED;
        }
        zmq_pollitem_t item = {.socket = client->socket, .events = ZMQ_POLLIN};
        int ready = zmq_poll(&item, 1, left < 0 || left > SLICE_MS ? SLICE_MS : left);
        if (ready < 0) {
            return WAIT_FAILED;
        }
        if (ready > 0) {
            return WAIT_REPLY;
        }
        if (read_connection_events(client) && may_resend) {
            return WAIT_LOST;
        }
    }
}

/* Sends [method][request] and receives the reply's two frames into *reply, whose messages the caller initialized
 * and closes. Predict is idempotent, so a request whose connection was lost while it waited is sent again at once on a
 * new socket, up to client->retries times; the timeout covers all attempts. */
static int exchange(zserve_client_t *client, const uint8_t *request, size_t length, struct reply_frames *reply,
                    zserve_result_t *out) {
    int64_t deadline = client->timeout_ms < 0 ? -1 : now_ms() + client->timeout_ms;
    for (int resends = 0;; resends++) {
        if (!client->socket && open_socket(client) != 0) {
            return report(out, ZSERVE_UNAVAILABLE, "cannot reopen a socket to %s: %s", client->endpoint_list,
                          zmq_strerror(errno));
        }
        /* A send waits for a completed connection (ZMQ_IMMEDIATE): bound it by what is left of the call's time. */
        int send_timeout = remaining_ms(deadline);
        if (zmq_setsockopt(client->socket, ZMQ_SNDTIMEO, &send_timeout, sizeof send_timeout) != 0 ||
            zmq_send(client->socket, PREDICT_METHOD, strlen(PREDICT_METHOD), ZMQ_SNDMORE) < 0 ||
            zmq_send(client->socket, request, length, 0) < 0) {
            return transport_failure(client, "sending the request to", resends, out);
        }
        enum wait_outcome outcome = await_reply(client, deadline, resends < client->retries);
        if (outcome == WAIT_LOST) {
            reset_socket(client); /* a REQ socket must receive before it sends again */
            continue;
        }
        if (outcome == WAIT_FAILED || zmq_msg_recv(&reply->status, client->socket, ZMQ_DONTWAIT) < 0) {
            return transport_failure(client, "waiting for the reply from", resends, out);
        }
        break;
    }
    if (!zmq_msg_more(&reply->status)) {
        return frame_count_failure(client, "one frame", out);
    }
    if (zmq_msg_recv(&reply->response, client->socket, 0) < 0) {
        return transport_failure(client, "receiving the reply from", 0, out);
    }
    if (zmq_msg_more(&reply->response)) {
        return frame_count_failure(client, "more than two frames", out);
    }
    return ZSERVE_OK;
}

/* Copies a float32 output tensor into out's "OK only" fields. */
static int copy_output(const Zserve__V1__Tensor *tensor, zserve_result_t *out) {
    if (tensor->dtype != ZSERVE__V1__DATA_TYPE__DATA_TYPE_FLOAT32) {
        return report(out, ZSERVE_UNIMPLEMENTED, "output %s has DataType %d; this client decodes float32 only",
                      tensor->name, (int)tensor->dtype);
    }
    size_t count;
    if (element_count(tensor->shape, tensor->n_shape, &count) != 0 || tensor->raw_data.len != count * sizeof(float)) {
        return report(out, ZSERVE_INTERNAL, "malformed reply: output %s has %zu bytes, which does not fit its shape",
                      tensor->name, tensor->raw_data.len);
    }
    out->output_name = copy_string(tensor->name);
    out->shape = allocate_array(tensor->n_shape, sizeof *out->shape);
    out->data = allocate_array(count, sizeof *out->data);
    if (!out->output_name || !out->shape || !out->data) {
        release_output(out);
        return report(out, ZSERVE_RESOURCE_EXHAUSTED, "out of memory copying output %s", tensor->name);
    }
    if (tensor->n_shape > 0) {
        memcpy(out->shape, tensor->shape, tensor->n_shape * sizeof *out->shape);
    }
    out->rank = tensor->n_shape;
    decode_f32(tensor->raw_data.data, count, out->data);
    out->count = count;
    return ZSERVE_OK;
}

static int read_response(const Zserve__V1__PredictResponse *response, zserve_result_t *out) {
    if (strcmp(response->id, out->request_id) != 0) {
        return report(out, ZSERVE_INTERNAL, "malformed reply: response id \"%s\" is not the request's", response->id);
    }
    if (response->n_outputs == 0) {
        return report(out, ZSERVE_INTERNAL, "malformed reply: the response has no outputs");
    }
    int code = copy_output(response->outputs[0], out);
    if (code == ZSERVE_OK) {
        out->version = response->version;
    }
    return code;
}

/* Decodes [Status][PredictResponse]. protobuf-c's unpack returns NULL for bytes that are not the message (and when
 * out of memory, which it does not tell apart). */
static int read_reply(struct reply_frames *reply, zserve_result_t *out) {
    Zserve__V1__Status *status =
        zserve__v1__status__unpack(NULL, zmq_msg_size(&reply->status), zmq_msg_data(&reply->status));
    if (!status) {
        return report(out, ZSERVE_INTERNAL, "malformed reply: the status frame is not a zserve.v1.Status");
    }
    int code = report(out, (int)status->code, "%s", status->message);
    zserve__v1__status__free_unpacked(status, NULL);
    if (code != ZSERVE_OK) {
        return code;
    }
    Zserve__V1__PredictResponse *response =
        zserve__v1__predict_response__unpack(NULL, zmq_msg_size(&reply->response), zmq_msg_data(&reply->response));
    if (!response) {
        return report(out, ZSERVE_INTERNAL, "malformed reply: the response frame is not a zserve.v1.PredictResponse");
    }
    code = read_response(response, out);
    zserve__v1__predict_response__free_unpacked(response, NULL);
    return code;
}

int zserve_predict_f32(zserve_client_t *client, const char *model, int64_t version, const char *input_name,
                       const float *data, const int64_t *shape, size_t rank, zserve_result_t *out) {
    if (!out) {
        return ZSERVE_INVALID_ARGUMENT;
    }
    memset(out, 0, sizeof *out);
    if (!client) {
        return report(out, ZSERVE_INVALID_ARGUMENT, "client is NULL");
    }
    client->requests++;
    snprintf(out->request_id, sizeof out->request_id, "%s-%" PRIu64, client->session, client->requests);

    struct f32_input input = {.name = input_name, .data = data, .shape = shape, .rank = rank};
    int code = prepare_input(model, &input, out);
    if (code != ZSERVE_OK) {
        return code;
    }
    size_t length;
    uint8_t *request = pack_request(out->request_id, model, version, &input, &length);
    if (!request) {
        return report(out, ZSERVE_RESOURCE_EXHAUSTED, "out of memory building the request");
    }
    struct reply_frames reply;
    zmq_msg_init(&reply.status);
    zmq_msg_init(&reply.response);
    code = exchange(client, request, length, &reply, out);
    free(request);
    if (code == ZSERVE_OK) {
        code = read_reply(&reply, out);
    }
    zmq_msg_close(&reply.status);
    zmq_msg_close(&reply.response);
    return code;
}

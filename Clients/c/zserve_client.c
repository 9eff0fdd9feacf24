/* ZServe C client over a ZeroMQ REQ socket; zserve_client.h describes the API and who owns what. */
#include "zserve_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "curve_keys.h"
#include "zserve/v1/inference.pb-c.h"
#include "zserve/v1/status.pb-c.h"

#define PREDICT_METHOD "zserve.v1.Inference/Predict"
#define SESSION_BYTES 16
/* The handshake failures that tell a refused or missing CURVE key from a silent server. */
#define HANDSHAKE_FAILURES \
    (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)

/* raw_data holds IEEE-754 binary32 values; the byte order is handled explicitly below. */
_Static_assert(sizeof(float) == 4, "float must be 32 bits wide");

struct zserve_client {
    void *context;  /* owned; one per client, so clients share no state */
    void *socket;   /* owned REQ socket; NULL when reopening it failed, retried by the next request */
    void *monitor;  /* owned PAIR socket receiving the REQ socket's failed handshakes; NULL when socket is */
    unsigned monitors; /* sockets opened so far: each monitor gets its own inproc endpoint */
    char *endpoint; /* owned copy, to reopen the socket */
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
}

/* Opens a REQ socket (a CURVE client when the client has keys) with a monitor of its failed handshakes and connects it
 * to the client's endpoint. Returns 0, or -1 with errno set and both sockets NULL. */
static int open_socket(zserve_client_t *client) {
    char monitor_endpoint[48];
    snprintf(monitor_endpoint, sizeof monitor_endpoint, "inproc://zserve-handshakes-%u", client->monitors++);
    int linger = 0; /* closing must not wait for a request the server never took */
    client->socket = zmq_socket(client->context, ZMQ_REQ);
    client->monitor = client->socket ? zmq_socket(client->context, ZMQ_PAIR) : NULL;
    if (client->monitor && zmq_setsockopt(client->socket, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_setsockopt(client->socket, ZMQ_SNDTIMEO, &client->timeout_ms, sizeof client->timeout_ms) == 0 &&
        zmq_setsockopt(client->socket, ZMQ_RCVTIMEO, &client->timeout_ms, sizeof client->timeout_ms) == 0 &&
        (!client->curve || set_curve_keys(client, client->socket) == 0) &&
        zmq_socket_monitor(client->socket, monitor_endpoint, HANDSHAKE_FAILURES) == 0 &&
        zmq_setsockopt(client->monitor, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_connect(client->monitor, monitor_endpoint) == 0 && zmq_connect(client->socket, client->endpoint) == 0) {
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

/* The latest failed handshake the monitor reported since the last call: ZMQ_EVENT_HANDSHAKE_FAILED_AUTH (with the
 * ZAP status code in *zap_status), another HANDSHAKE_FAILURES event, or 0 for none. Does not wait. */
static int latest_handshake_failure(zserve_client_t *client, uint32_t *zap_status) {
    int latest = 0;
    if (!client->monitor) {
        return 0;
    }
    for (;;) {
        /* An event is two frames: 2 bytes of event and 4 of value in the host's byte order, then the peer's
         * address. Both arrive together, so the second is read without waiting too. */
        zmq_msg_t frame;
        zmq_msg_init(&frame);
        if (zmq_msg_recv(&frame, client->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&frame);
            return latest;
        }
        if (zmq_msg_size(&frame) >= 6) {
            uint16_t event;
            uint32_t value;
            memcpy(&event, zmq_msg_data(&frame), sizeof event);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&frame) + 2, sizeof value);
            if (event & HANDSHAKE_FAILURES) {
                latest = event;
                *zap_status = value;
            }
        }
        int more = zmq_msg_more(&frame);
        while (more && zmq_msg_recv(&frame, client->monitor, ZMQ_DONTWAIT) >= 0) {
            more = zmq_msg_more(&frame);
        }
        zmq_msg_close(&frame);
    }
}

zserve_client_t *zserve_connect(const char *endpoint, int timeout_ms) {
    if (!endpoint) {
        errno = EINVAL;
        return NULL;
    }
    zserve_client_t *client = calloc(1, sizeof *client);
    if (!client) {
        return NULL;
    }
    client->timeout_ms = timeout_ms;
    client->endpoint = copy_string(endpoint);
    client->context = client->endpoint ? zmq_ctx_new() : NULL;
    if (client->context && read_session(client->session) == 0 && open_socket(client) == 0) {
        return client;
    }
    int error = errno;
    zserve_close(client);
    errno = error;
    return NULL;
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
                        client->endpoint, zmq_strerror(errno));
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
    free(client->endpoint);
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

/* Replaces the socket after a failed send or receive (errno tells why) and reports UNAUTHENTICATED when the monitor
 * saw the server refuse the handshake (the server then never replies), DEADLINE_EXCEEDED for another timeout (as the
 * Swift and Python clients do), UNAVAILABLE otherwise. */
static int transport_failure(zserve_client_t *client, const char *what, zserve_result_t *out) {
    int error = errno;
    uint32_t zap_status = 0;
    int handshake = error == EAGAIN ? latest_handshake_failure(client, &zap_status) : 0;
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
        return report(out, ZSERVE_DEADLINE_EXCEEDED, "%s %s: timed out after %d ms", what, client->endpoint,
                      client->timeout_ms);
    }
    return report(out, ZSERVE_UNAVAILABLE, "%s %s: %s", what, client->endpoint, zmq_strerror(error));
}

/* Replaces the socket after a reply with the wrong number of frames and reports INTERNAL. */
static int frame_count_failure(zserve_client_t *client, const char *problem, zserve_result_t *out) {
    reset_socket(client);
    return report(out, ZSERVE_INTERNAL, "malformed reply: %s, expected [Status][response]", problem);
}

/* Sends [method][request] and receives the reply's two frames into *reply, whose messages the caller initialized
 * and closes. */
static int exchange(zserve_client_t *client, const uint8_t *request, size_t length, struct reply_frames *reply,
                    zserve_result_t *out) {
    if (!client->socket && open_socket(client) != 0) {
        return report(out, ZSERVE_UNAVAILABLE, "cannot reopen a socket to %s: %s", client->endpoint,
                      zmq_strerror(errno));
    }
    if (zmq_send(client->socket, PREDICT_METHOD, strlen(PREDICT_METHOD), ZMQ_SNDMORE) < 0 ||
        zmq_send(client->socket, request, length, 0) < 0) {
        return transport_failure(client, "sending the request to", out);
    }
    if (zmq_msg_recv(&reply->status, client->socket, 0) < 0) {
        return transport_failure(client, "waiting for the reply from", out);
    }
    if (!zmq_msg_more(&reply->status)) {
        return frame_count_failure(client, "one frame", out);
    }
    if (zmq_msg_recv(&reply->response, client->socket, 0) < 0) {
        return transport_failure(client, "receiving the reply from", out);
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

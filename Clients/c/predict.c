/* zserve-c-predict: runs a model on a float32 matrix through the ZServe C client and prints its first output.
 *
 *   zserve-c-predict [--input NAME] [--retries N] [--server-public-key FILE --client-key FILE] ENDPOINT[,ENDPOINT...]
 *                    MODEL ROWS COLS V1 V2 ...
 *
 * ENDPOINT may list several servers offering the same models, separated by commas: the request goes to one that is
 * connected and is sent again (up to --retries times, default 2) if its connection is lost while it waits. Sends the ROWS x COLS values (row-major) as the input NAME (default "features") to the model's default version and
 * prints {"model": ..., "version": N, "output": ..., "shape": [...], "data": [...]} on stdout. With the server's
 * public key file and this client's secret key file (zserve keygen), it authenticates with CURVE.
 * Exit status: 0 on success; 1 when the request fails, with "CODE_NAME: message" on stderr; 2 on a usage error,
 * including a key file that cannot be used ("INVALID_ARGUMENT: FILE: reason" on stderr).
 * ZSERVE_TIMEOUT_MS in the environment sets how long to wait for the reply (default 10000).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zserve_client.h"

#define TIMEOUT_MS 10000
#define USAGE                                                                                                       \
    "usage: zserve-c-predict [--input NAME] [--retries N] [--server-public-key FILE --client-key FILE] "             \
    "ENDPOINT[,ENDPOINT...] MODEL ROWS COLS V1 V2 ...\n"

struct arguments {
    const char *input;
    const char *server_public_key; /* NULL without CURVE; set together with client_key */
    const char *client_key;
    const char *retries;  /* NULL: the client's default */
    const char *endpoint; /* one or several, separated by commas */
    const char *model;
    int64_t shape[2];
    float *values; /* owned: ROWS * COLS values */
};

static int usage_error(const char *problem, const char *argument) {
    fprintf(stderr, "zserve-c-predict: %s: %s\n" USAGE, problem, argument);
    return 2;
}

/* A whole number from 0 to INT_MAX (so that ROWS * COLS cannot overflow an int64_t); `what` names it in the error. */
static int parse_count(const char *text, const char *what, int64_t *count) {
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < 0 || value > INT_MAX) {
        return usage_error(what, text);
    }
    *count = value;
    return 0;
}

static int parse_dimension(const char *text, int64_t *dimension) {
    return parse_count(text, "not a dimension", dimension);
}

static int parse_value(const char *text, float *value) {
    char *end;
    errno = 0;
    *value = strtof(text, &end);
    if (errno != 0 || end == text || *end != '\0') {
        return usage_error("not a float32 value", text);
    }
    return 0;
}

/* Reads the options before the positional arguments into *args; returns the index of the first positional one, or -1
 * after printing a usage error. */
static int parse_options(int argc, char **argv, struct arguments *args) {
    static const char *const names[] = {"--input", "--server-public-key", "--client-key", "--retries"};
    const char **values[] = {&args->input, &args->server_public_key, &args->client_key, &args->retries};
    int index = 1;
    while (index < argc && strncmp(argv[index], "--", 2) == 0) {
        size_t option = 0;
        while (option < sizeof names / sizeof names[0] && strcmp(argv[index], names[option]) != 0) {
            option++;
        }
        if (option == sizeof names / sizeof names[0]) {
            usage_error("unknown option", argv[index]);
            return -1;
        }
        if (index + 1 >= argc) {
            usage_error("missing value", argv[index]);
            return -1;
        }
        *values[option] = argv[index + 1];
        index += 2;
    }
    if ((args->server_public_key == NULL) != (args->client_key == NULL)) {
        fputs("zserve-c-predict: --server-public-key and --client-key go together\n" USAGE, stderr);
        return -1;
    }
    return index;
}

/* Fills *args from the command line; returns 0, or 2 after printing a usage error. */
static int parse_arguments(int argc, char **argv, struct arguments *args) {
    args->input = "features";
    args->server_public_key = NULL;
    args->client_key = NULL;
    args->retries = NULL;
    args->values = NULL;
    int first = parse_options(argc, argv, args);
    if (first < 0) {
        return 2;
    }
    int64_t retries;
    if (args->retries && parse_count(args->retries, "--retries: not a whole number from 0", &retries) != 0) {
        return 2;
    }
    if (argc - first < 4) {
        fputs(USAGE, stderr);
        return 2;
    }
    args->endpoint = argv[first];
    size_t length = strlen(args->endpoint);
    if (length == 0 || args->endpoint[0] == ',' || args->endpoint[length - 1] == ',' || strstr(args->endpoint, ",,")) {
        return usage_error("an empty endpoint in", args->endpoint);
    }
    args->model = argv[first + 1];
    if (parse_dimension(argv[first + 2], &args->shape[0]) != 0 ||
        parse_dimension(argv[first + 3], &args->shape[1]) != 0) {
        return 2;
    }
    int count = argc - first - 4;
    if (args->shape[0] * args->shape[1] != count) {
        fprintf(stderr, "zserve-c-predict: %" PRId64 " x %" PRId64 " values are needed, got %d\n" USAGE,
                args->shape[0], args->shape[1], count);
        return 2;
    }
    args->values = malloc(count > 0 ? (size_t)count * sizeof(float) : 1);
    if (!args->values) {
        fputs("zserve-c-predict: out of memory\n", stderr);
        return 2;
    }
    for (int i = 0; i < count; i++) {
        if (parse_value(argv[first + 4 + i], &args->values[i]) != 0) {
            return 2;
        }
    }
    return 0;
}

static void print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            printf("\\%c", *c);
        } else if (*c < 0x20) {
            printf("\\u%04x", *c);
        } else {
            putchar(*c);
        }
    }
    putchar('"');
}

/* %.9g reproduces every float32 exactly; JSON has no NaN or infinity, so those print as null. */
static void print_float(float value) {
    if (isfinite(value)) {
        printf("%.9g", value);
    } else {
        fputs("null", stdout);
    }
}

static void print_result(const char *model, const zserve_result_t *result) {
    fputs("{\"model\": ", stdout);
    print_json_string(model);
    printf(", \"version\": %" PRId64 ", \"output\": ", result->version);
    print_json_string(result->output_name);
    fputs(", \"shape\": [", stdout);
    for (size_t i = 0; i < result->rank; i++) {
        printf("%s%" PRId64, i > 0 ? ", " : "", result->shape[i]);
    }
    fputs("], \"data\": [", stdout);
    for (size_t i = 0; i < result->count; i++) {
        fputs(i > 0 ? ", " : "", stdout);
        print_float(result->data[i]);
    }
    fputs("]}\n", stdout);
}

/* Splits a comma-separated list of endpoints into a new array of *count strings, which points into a new copy of
 * the list stored in its first element's allocation: free(endpoints[0]) then free(endpoints). NULL when out of memory
 * or when an endpoint is empty (errno EINVAL). */
static char **split_endpoints(const char *list, size_t *count) {
    size_t commas = 0;
    for (const char *c = list; *c; c++) {
        commas += *c == ',';
    }
    char **endpoints = malloc((commas + 1) * sizeof *endpoints);
    char *copy = malloc(strlen(list) + 1);
    if (!endpoints || !copy) {
        free(endpoints);
        free(copy);
        return NULL;
    }
    strcpy(copy, list);
    *count = 0;
    for (char *start = copy;; start++) {
        endpoints[(*count)++] = start;
        start = strchr(start, ',');
        if (!start) {
            break;
        }
        *start = '\0';
    }
    for (size_t i = 0; i < *count; i++) {
        if (endpoints[i][0] == '\0') {
            free(copy);
            free(endpoints);
            errno = EINVAL;
            return NULL;
        }
    }
    return endpoints;
}

/* Connects to the endpoints with the given retries; NULL after printing why it failed. */
static zserve_client_t *connect_client(const struct arguments *args, int timeout_ms) {
    size_t count = 0;
    char **endpoints = split_endpoints(args->endpoint, &count);
    zserve_client_t *client = endpoints ? zserve_connect_many((const char *const *)endpoints, count, timeout_ms) : NULL;
    int error = errno;
    if (endpoints) {
        free(endpoints[0]);
        free(endpoints);
    }
    if (!client) {
        fprintf(stderr, "%s: cannot connect to %s: %s\n", zserve_code_name(ZSERVE_UNAVAILABLE), args->endpoint,
                strerror(error));
        return NULL;
    }
    if (args->retries) {
        zserve_set_retries(client, atoi(args->retries)); /* parse_arguments checked it is in 0...INT_MAX */
    }
    return client;
}

/* Sends the request and prints its outcome; returns the exit status. */
static int run(const struct arguments *args) {
    const char *timeout = getenv("ZSERVE_TIMEOUT_MS");
    long timeout_ms = timeout ? strtol(timeout, NULL, 10) : TIMEOUT_MS;
    zserve_client_t *client =
        connect_client(args, timeout_ms > 0 && timeout_ms <= INT_MAX ? (int)timeout_ms : TIMEOUT_MS);
    if (!client) {
        return 1;
    }
    if (args->server_public_key) {
        char message[ZSERVE_MESSAGE_SIZE];
        int code = zserve_use_curve(client, args->server_public_key, args->client_key, message, sizeof message);
        if (code != ZSERVE_OK) {
            fprintf(stderr, "%s: %s\n", zserve_code_name(code), message);
            zserve_close(client);
            return code == ZSERVE_INVALID_ARGUMENT ? 2 : 1;
        }
    }
    zserve_result_t result;
    int code = zserve_predict_f32(client, args->model, 0, args->input, args->values, args->shape, 2, &result);
    if (code == ZSERVE_OK) {
        print_result(args->model, &result);
    } else {
        fprintf(stderr, "%s: %s\n", zserve_code_name(code), result.message);
    }
    zserve_result_free(&result);
    zserve_close(client);
    return code == ZSERVE_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    struct arguments args;
    int status = parse_arguments(argc, argv, &args);
    if (status == 0) {
        status = run(&args);
    }
    free(args.values);
    return status;
}

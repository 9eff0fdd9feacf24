/* Test driver for the C client's failover (Tests/python/test_c_failover.py builds and runs it).
 *
 *   failover_loop RETRIES TIMEOUT_MS MODEL INPUT COLS ENDPOINT...
 *
 * Makes one client connected to every ENDPOINT (RETRIES "-" keeps the default, otherwise zserve_set_retries), then
 * reads stdin line by line: each line holds a number N, and the program makes N Predict calls on a 1 x COLS input of
 * ones, printing "CODE_NAME: message" (the message is "version V" on success) for each on stdout, flushed at once.
 * Exits 0 at the end of stdin, 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zserve_client.h"

#define MAX_COLS 64

static int predict(zserve_client_t *client, const char *model, const char *input, int64_t cols) {
    float values[MAX_COLS];
    for (int64_t i = 0; i < cols; i++) {
        values[i] = 1;
    }
    int64_t shape[2] = {1, cols};
    zserve_result_t result;
    int code = zserve_predict_f32(client, model, 0, input, values, shape, 2, &result);
    if (code == ZSERVE_OK) {
        printf("OK: version %lld\n", (long long)result.version);
    } else {
        printf("%s: %s\n", zserve_code_name(code), result.message);
    }
    fflush(stdout);
    zserve_result_free(&result);
    return code;
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fputs("usage: failover_loop RETRIES TIMEOUT_MS MODEL INPUT COLS ENDPOINT...\n", stderr);
        return 2;
    }
    int64_t cols = atoll(argv[5]);
    if (cols < 1 || cols > MAX_COLS) {
        fprintf(stderr, "failover_loop: COLS must be 1 to %d\n", MAX_COLS);
        return 2;
    }
    zserve_client_t *client = zserve_connect_many((const char *const *)&argv[6], (size_t)(argc - 6), atoi(argv[2]));
    if (!client) {
        perror("zserve_connect_many");
        return 2;
    }
    if (strcmp(argv[1], "-") != 0 && zserve_set_retries(client, atoi(argv[1])) != ZSERVE_OK) {
        fputs("failover_loop: RETRIES must not be negative\n", stderr);
        zserve_close(client);
        return 2;
    }
    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        for (long calls = atol(line); calls > 0; calls--) {
            predict(client, argv[3], argv[4], cols);
        }
    }
    zserve_close(client);
    return 0;
}

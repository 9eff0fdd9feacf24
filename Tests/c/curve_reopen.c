/* Test driver for the C client's CURVE keys across a socket reopen (Tests/python/test_c_client.py builds and runs it).
 *
 *   curve_reopen ENDPOINT SERVER_PUBLIC_KEY_FILE CLIENT_KEY_FILE
 *
 * Makes one client with zserve_use_curve and sends two Predict requests on it, printing "CODE_NAME: message" for each
 * on stdout. Against a CURVE server that ignores the first request, the first times out (the socket is replaced) and
 * the second is answered only if the new socket authenticated with the same keys. Exits 2 when the keys are refused.
 */
#include <stdio.h>

#include "zserve_client.h"

#define TIMEOUT_MS 1000

int main(int argc, char **argv) {
    if (argc != 4) {
        fputs("usage: curve_reopen ENDPOINT SERVER_PUBLIC_KEY_FILE CLIENT_KEY_FILE\n", stderr);
        return 2;
    }
    zserve_client_t *client = zserve_connect(argv[1], TIMEOUT_MS);
    if (!client) {
        perror("zserve_connect");
        return 2;
    }
    char message[ZSERVE_MESSAGE_SIZE];
    int code = zserve_use_curve(client, argv[2], argv[3], message, sizeof message);
    if (code != ZSERVE_OK) {
        fprintf(stderr, "%s: %s\n", zserve_code_name(code), message);
        zserve_close(client);
        return 2;
    }
    float value = 1;
    int64_t shape[2] = {1, 1};
    for (int request = 0; request < 2; request++) {
        zserve_result_t result;
        code = zserve_predict_f32(client, "m", 0, "x", &value, shape, 2, &result);
        printf("%s: %s\n", zserve_code_name(code), result.message);
        zserve_result_free(&result);
    }
    zserve_close(client);
    return 0;
}

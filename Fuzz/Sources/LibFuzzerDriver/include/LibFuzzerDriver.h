#ifndef ZSERVE_LIBFUZZER_DRIVER_H
#define ZSERVE_LIBFUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (in the fuzzer runtime that `-sanitize=fuzzer` links): parses libFuzzer's flags from argv and
/// fuzzes `callback`. Lets a SwiftPM executable keep its own `main` (SwiftPM renames and re-exports it) yet run libFuzzer.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif

/* CurveZMQ key files for the C client; curve_keys.h states the rules (those of the Swift reader). */
#define _POSIX_C_SOURCE 200809L

#include "curve_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#define KEY_LENGTH 40
#define KEY_BYTES 32
/* Far more than any certificate; a larger file is not a key file, so it is not read into memory. */
#define MAX_FILE_SIZE 65536

/* A value inside the file's text (not NUL-terminated); text is NULL when the file has none. */
struct key_text {
    const char *text;
    size_t length;
};

/* A key file read into memory: its bytes (owned, wiped before they are freed), its mode, and the keys it holds:
 * either named fields or, for a one-line file, a bare key. */
struct key_file {
    char *bytes;
    size_t size;
    mode_t mode;
    struct key_text public_key;
    struct key_text secret_key;
    struct key_text bare;
};

void curve_wipe(void *bytes, size_t size) {
    volatile unsigned char *byte = bytes;
    while (size--) {
        *byte++ = 0;
    }
}

/* Writes "PATH: reason" into message and returns -1, so callers can `return fail(...)`. */
static int fail(char *message, size_t message_size, const char *path, const char *format, ...) {
    if (message_size > 0) {
        int written = snprintf(message, message_size, "%s: ", path);
        if (written >= 0 && (size_t)written < message_size) {
            va_list args;
            va_start(args, format);
            vsnprintf(message + written, message_size - (size_t)written, format, args);
            va_end(args);
        }
    }
    return -1;
}

/* Whether a value is a CURVE key: 40 characters of Z85 (which decode to 32 bytes). The length is checked first
 * because zmq_z85_decode writes length / 5 * 4 bytes. */
static int is_key(struct key_text key) {
    if (!key.text || key.length != KEY_LENGTH) {
        return 0;
    }
    char text[CURVE_KEY_TEXT_SIZE];
    uint8_t decoded[KEY_BYTES];
    memcpy(text, key.text, KEY_LENGTH);
    text[KEY_LENGTH] = '\0';
    int valid = zmq_z85_decode(decoded, text) != NULL;
    curve_wipe(text, sizeof text);
    curve_wipe(decoded, sizeof decoded);
    return valid;
}

static void copy_key(struct key_text key, char out[CURVE_KEY_TEXT_SIZE]) {
    memcpy(out, key.text, KEY_LENGTH);
    out[KEY_LENGTH] = '\0';
}

static int is_blank(char c) {
    return c == ' ' || c == '\t';
}

static int is_newline(char c) {
    return c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The text between start and end without surrounding spaces and tabs. */
static struct key_text trimmed(const char *start, const char *end) {
    while (start < end && is_blank(*start)) {
        start++;
    }
    while (end > start && is_blank(end[-1])) {
        end--;
    }
    return (struct key_text){.text = start, .length = (size_t)(end - start)};
}

/* Reads `name = value` (the value optionally in double quotes) into the field it names; other lines are ignored. */
static void read_field(struct key_text line, struct key_file *file) {
    const char *equals = memchr(line.text, '=', line.length);
    if (!equals) {
        return;
    }
    struct key_text name = trimmed(line.text, equals);
    struct key_text value = trimmed(equals + 1, line.text + line.length);
    if (value.length >= 2 && value.text[0] == '"' && value.text[value.length - 1] == '"') {
        value.text++;
        value.length -= 2;
    }
    if (name.length == 10 && memcmp(name.text, "public-key", 10) == 0) {
        file->public_key = value;
    } else if (name.length == 10 && memcmp(name.text, "secret-key", 10) == 0) {
        file->secret_key = value;
    }
}

/* Finds the keys in file->bytes: every line not blank or a comment is a field, unless it is the only one and a key. */
static void parse(struct key_file *file) {
    const char *end = file->bytes + file->size;
    size_t lines = 0;
    struct key_text first = {0};
    for (const char *start = file->bytes; start < end;) {
        const char *stop = start;
        while (stop < end && !is_newline(*stop)) {
            stop++;
        }
        struct key_text line = trimmed(start, stop);
        if (line.length > 0 && line.text[0] != '#') {
            if (lines++ == 0) {
                first = line;
            }
            read_field(line, file);
        }
        start = stop + 1;
    }
    if (lines == 1 && is_key(first)) {
        file->public_key = file->secret_key = (struct key_text){0};
        file->bare = first;
    }
}

static void release(struct key_file *file) {
    if (file->bytes) {
        curve_wipe(file->bytes, file->size);
        free(file->bytes);
    }
    memset(file, 0, sizeof *file);
}

/* Reads a whole key file and its mode; -1 with a message when it cannot be read. */
static int load(const char *path, struct key_file *file, char *message, size_t message_size) {
    memset(file, 0, sizeof *file);
    int descriptor = open(path, O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        return fail(message, message_size, path, "cannot read: %s", strerror(errno));
    }
    struct stat info;
    if (fstat(descriptor, &info) != 0) {
        int error = errno;
        close(descriptor);
        return fail(message, message_size, path, "cannot read: %s", strerror(error));
    }
    if (!S_ISREG(info.st_mode) || info.st_size > MAX_FILE_SIZE) {
        close(descriptor);
        return fail(message, message_size, path, "cannot read: not a key file (%s)",
                    S_ISREG(info.st_mode) ? "more than 64 KiB" : "not a regular file");
    }
    file->mode = info.st_mode;
    file->bytes = malloc(MAX_FILE_SIZE + 1);
    if (!file->bytes) {
        close(descriptor);
        return fail(message, message_size, path, "cannot read: out of memory");
    }
    /* Read up to one byte more than the limit, so a file that grew since fstat is still refused. */
    while (file->size <= MAX_FILE_SIZE) {
        ssize_t got = read(descriptor, file->bytes + file->size, MAX_FILE_SIZE + 1 - file->size);
        if (got == 0) {
            break;
        }
        if (got < 0 && errno != EINTR) {
            int error = errno;
            close(descriptor);
            release(file);
            return fail(message, message_size, path, "cannot read: %s", strerror(error));
        }
        file->size += got > 0 ? (size_t)got : 0;
    }
    close(descriptor);
    if (file->size > MAX_FILE_SIZE || memchr(file->bytes, '\0', file->size)) {
        release(file);
        return fail(message, message_size, path, "cannot read: not a key file (%s)",
                    file->size > MAX_FILE_SIZE ? "more than 64 KiB" : "binary");
    }
    parse(file);
    return 0;
}

/* The public key of a valid secret key, with zmq_curve_public; -1 when libzmq cannot derive it. */
static int derive_public(struct key_text secret, char public_key[CURVE_KEY_TEXT_SIZE]) {
    char secret_text[CURVE_KEY_TEXT_SIZE];
    copy_key(secret, secret_text);
    int result = zmq_curve_public(public_key, secret_text);
    curve_wipe(secret_text, sizeof secret_text);
    return result;
}

#define MALFORMED "not a CURVE key: expected 40 characters of Z85, got %zu characters"

int curve_read_public_key(const char *path, char public_key[CURVE_KEY_TEXT_SIZE], char *message,
                          size_t message_size) {
    struct key_file file;
    if (load(path, &file, message, message_size) != 0) {
        return -1;
    }
    struct key_text key = file.public_key.text ? file.public_key : file.bare;
    int result;
    if (key.text) {
        result = is_key(key) ? (copy_key(key, public_key), 0)
                             : fail(message, message_size, path, "public-key: " MALFORMED, key.length);
    } else if (is_key(file.secret_key) && derive_public(file.secret_key, public_key) == 0) {
        result = 0;
    } else {
        result = fail(message, message_size, path, "no public-key in the file");
    }
    release(&file);
    return result;
}

int curve_read_key_pair(const char *path, char public_key[CURVE_KEY_TEXT_SIZE], char secret_key[CURVE_KEY_TEXT_SIZE],
                        char *message, size_t message_size) {
    struct key_file file;
    if (load(path, &file, message, message_size) != 0) {
        return -1;
    }
    struct key_text secret = file.secret_key.text ? file.secret_key : file.bare;
    int result;
    if (!secret.text) {
        result = fail(message, message_size, path, "no secret-key in the file (is it a .pub file?)");
    } else if (file.mode & 077) {
        result = fail(message, message_size, path, "a secret key file must not be readable by others (chmod 600)");
    } else if (!is_key(secret) || derive_public(secret, public_key) != 0) {
        result = fail(message, message_size, path, "secret-key: " MALFORMED, secret.length);
    } else if (file.public_key.text &&
               (file.public_key.length != KEY_LENGTH || memcmp(file.public_key.text, public_key, KEY_LENGTH) != 0)) {
        result = fail(message, message_size, path, "public-key does not belong to the secret-key");
    } else {
        copy_key(secret, secret_key);
        result = 0;
    }
    if (result != 0) {
        curve_wipe(public_key, CURVE_KEY_TEXT_SIZE);
        curve_wipe(secret_key, CURVE_KEY_TEXT_SIZE);
    }
    release(&file);
    return result;
}

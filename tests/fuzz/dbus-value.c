/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * A D-Bus value decoded from fuzzer input and built with sd-bus
 * (dbus-value.h): what fuzz-components and fuzz-event-context feed their
 * readers.
 */

#include <errno.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "dbus-value.h"
#include "fuzz.h"

#define DEPTH_MAX 32
#define VALUES_MAX 20000

void fuzz_take(fuzz_input *in, void *buf, size_t k) {
        size_t m = in->n < k ? in->n : k;

        memset(buf, 0, k);
        if (m > 0)
                memcpy(buf, in->p, m);
        in->p += m;
        in->n -= m;
}

/* A NUL-terminated string from the input (copied, at most 65535 bytes); "" at the end. */
char *fuzz_take_string(fuzz_input *in) {
        size_t k = 0;
        char *s;

        while (k < in->n && k < 65535 && in->p[k])
                k++;
        s = fuzz_strndup(in->p, k);
        in->p += k;
        in->n -= k;
        if (in->n > 0) { /* the NUL */
                in->p++;
                in->n--;
        }
        return s;
}

/* Length of the single complete type at @sig, 0 when malformed. */
size_t fuzz_type_len(const char *sig) {
        char open, close;
        size_t k, depth = 0;

        switch (sig[0]) {
        case 'a': {
                size_t e = fuzz_type_len(sig + 1);
                return e ? e + 1 : 0;
        }
        case '(':
                open = '(', close = ')';
                break;
        case '{':
                open = '{', close = '}';
                break;
        case 0:
        case ')':
        case '}':
                return 0;
        default:
                return 1;
        }
        for (k = 0; sig[k]; k++) {
                if (sig[k] == open)
                        depth++;
                else if (sig[k] == close && --depth == 0)
                        return k + 1;
        }
        return 0;
}

static int append_value(sd_bus_message *m, fuzz_input *in, const char *sig, size_t len, unsigned depth);

/* Append the values of every complete type of sig[0..len). */
static int append_values(sd_bus_message *m, fuzz_input *in, const char *sig, size_t len, unsigned depth) {
        while (len > 0) {
                size_t k = fuzz_type_len(sig);
                int r;

                if (k == 0 || k > len)
                        return -EINVAL;
                r = append_value(m, in, sig, k, depth);
                if (r < 0)
                        return r;
                sig += k;
                len -= k;
        }
        return 0;
}

static int append_value(sd_bus_message *m, fuzz_input *in, const char *sig, size_t len, unsigned depth) {
        char inner[256];
        int r;

        if (depth > DEPTH_MAX || ++in->values > VALUES_MAX)
                return -E2BIG;

        switch (sig[0]) {
        case 'y':
        case 'n':
        case 'q':
        case 'i':
        case 'u':
        case 'x':
        case 't':
        case 'd': {
                static const char types[] = "ynqiuxtd";
                static const size_t sizes[] = { 1, 2, 2, 4, 4, 8, 8, 8 };
                uint64_t v;

                fuzz_take(in, &v, sizes[strchr(types, sig[0]) - types]);
                return sd_bus_message_append_basic(m, sig[0], &v);
        }
        case 'b': {
                uint8_t v;
                int b;

                fuzz_take(in, &v, 1);
                b = v & 1;
                return sd_bus_message_append_basic(m, 'b', &b);
        }
        case 's':
        case 'o':
        case 'g': {
                char *s = fuzz_take_string(in);

                r = sd_bus_message_append_basic(m, sig[0], s);
                free(s);
                return r;
        }
        case 'a': {
                uint8_t count;

                if (len - 1 >= sizeof inner)
                        return -EINVAL;
                memcpy(inner, sig + 1, len - 1);
                inner[len - 1] = 0;
                fuzz_take(in, &count, 1);
                r = sd_bus_message_open_container(m, 'a', inner);
                if (r < 0)
                        return r;
                for (unsigned i = 0; i < count; i++) {
                        r = append_value(m, in, inner, len - 1, depth + 1);
                        if (r < 0)
                                return r;
                }
                return sd_bus_message_close_container(m);
        }
        case 'v': {
                char *contents = fuzz_take_string(in);
                size_t k = strlen(contents);

                /* exactly one complete type */
                if (k == 0 || fuzz_type_len(contents) != k) {
                        free(contents);
                        return -EINVAL;
                }
                r = sd_bus_message_open_container(m, 'v', contents);
                if (r >= 0)
                        r = append_value(m, in, contents, k, depth + 1);
                free(contents);
                if (r < 0)
                        return r;
                return sd_bus_message_close_container(m);
        }
        case '(':
        case '{':
                if (len < 3 || len - 2 >= sizeof inner)
                        return -EINVAL;
                memcpy(inner, sig + 1, len - 2);
                inner[len - 2] = 0;
                r = sd_bus_message_open_container(m, sig[0] == '(' ? 'r' : 'e', inner);
                if (r < 0)
                        return r;
                r = append_values(m, in, inner, len - 2, depth + 1);
                if (r < 0)
                        return r;
                return sd_bus_message_close_container(m);
        default:
                return -EINVAL; /* 'h' among them: no file descriptors here */
        }
}

/* A message needs a bus that has been started; one end of a socketpair is enough. */
static sd_bus *test_bus(void) {
        static sd_bus *bus;
        int fds[2];

        if (bus)
                return bus;
        fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fds) == 0);
        fuzz_check(sd_bus_new(&bus) >= 0);
        fuzz_check(sd_bus_set_fd(bus, fds[0], fds[0]) >= 0);
        fuzz_check(sd_bus_start(bus) >= 0);
        /* fds[1] stays open so the bus stays usable; both live as long as the process */
        return bus;
}

int fuzz_new_message(sd_bus_message **ret) {
        return sd_bus_message_new_signal(test_bus(), ret, "/fuzz", "org.lvss.Fuzz", "Value");
}

int fuzz_seal(sd_bus_message *m) {
        static uint64_t cookie;
        int r;

        r = sd_bus_message_seal(m, ++cookie, 0);
        if (r < 0)
                return r;
        return sd_bus_message_rewind(m, true);
}

int fuzz_append_value(sd_bus_message *m, fuzz_input *in, const char *sig) {
        size_t k = strlen(sig);

        if (k == 0 || fuzz_type_len(sig) != k)
                return -EINVAL;
        return append_value(m, in, sig, k, 0);
}

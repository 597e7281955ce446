/* SPDX-License-Identifier: LGPL-2.1-or-later */

/* GUIDs as text: "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}", RFC 4122 byte order. */

#include <stdio.h>

#include <lvss/types.h>

#include "util.h"

static const vss_id null_id;

_public_ void vss_id_format(const vss_id *id, char ret[VSS_ID_STRING_MAX]) {
        static const char hex[] = "0123456789abcdef";
        const uint8_t *b;
        size_t k = 0;

        if (!ret)
                return;
        b = (id ? id : &null_id)->bytes;

        ret[k++] = '{';
        for (size_t i = 0; i < 16; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                        ret[k++] = '-';
                ret[k++] = hex[b[i] >> 4];
                ret[k++] = hex[b[i] & 15];
        }
        ret[k++] = '}';
        ret[k] = 0;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

_public_ vss_hresult vss_id_parse(const char *s, vss_id *ret) {
        vss_id id;
        size_t n, k = 0;
        bool braces;

        check_arg(s, VSS_E_INVALIDARG);
        check_arg(ret, VSS_E_INVALIDARG);

        n = strlen(s);
        braces = n > 0 && s[0] == '{';
        if (braces) {
                if (n != 38 || s[37] != '}')
                        return VSS_E_INVALIDARG;
                s++;
        } else if (n != 36)
                return VSS_E_INVALIDARG;

        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23) {
                        if (s[i] != '-')
                                return VSS_E_INVALIDARG;
                        continue;
                }
                int hi = unhex(s[i]), lo = unhex(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return VSS_E_INVALIDARG;
                id.bytes[k++] = (uint8_t) (hi << 4 | lo);
                i++;
        }

        *ret = id;
        return VSS_S_OK;
}

_public_ bool vss_id_equal(const vss_id *a, const vss_id *b) {
        if (!a || !b)
                return a == b;
        return memcmp(a->bytes, b->bytes, 16) == 0;
}

_public_ bool vss_id_is_null(const vss_id *id) {
        return !id || memcmp(id->bytes, null_id.bytes, 16) == 0;
}

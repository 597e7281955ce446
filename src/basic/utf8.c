/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "utf8.h"

size_t lvss_utf8_decode(const char *s, uint32_t *ret) {
        const uint8_t *p = (const uint8_t *) s;
        uint32_t c, min;
        size_t len;

        if (*p == 0)
                return 0;
        if (*p < 0x80) {
                c = *p;
                len = 1;
                min = 0;
        } else if ((*p & 0xE0) == 0xC0) {
                c = *p & 0x1F;
                len = 2;
                min = 0x80;
        } else if ((*p & 0xF0) == 0xE0) {
                c = *p & 0x0F;
                len = 3;
                min = 0x800;
        } else if ((*p & 0xF8) == 0xF0) {
                c = *p & 0x07;
                len = 4;
                min = 0x10000;
        } else
                return 0;

        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80) /* also stops at the terminating NUL */
                        return 0;
                c = c << 6 | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
                return 0;
        if (ret)
                *ret = c;
        return len;
}

bool lvss_unichar_is_noncharacter(uint32_t c) {
        return (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE;
}

bool lvss_utf8_valid(const char *s) {
        if (!s)
                return false;

        while (*s) {
                uint32_t c;
                size_t n = lvss_utf8_decode(s, &c);

                if (n == 0 || lvss_unichar_is_noncharacter(c))
                        return false;
                s += n;
        }
        return true;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounded.h"

char *lvss_strdup_bounded(const char *s, size_t max) {
        char marker[64], *r;
        size_t len, keep;
        int n;

        if (!s)
                return NULL;
        len = strlen(s);
        if (len <= max)
                return strdup(s);

        /* The marker names the bytes left out, which depends on where the cut
         * falls: take the longest marker (the whole length left out) to place
         * the cut, then write the exact count. */
        n = snprintf(marker, sizeof marker, "...[truncated %zu bytes]", len);
        if (n < 0 || (size_t) n >= max)
                return strdup(""); /* @max too small for anything meaningful */
        keep = max - (size_t) n;
        /* never cut inside a UTF-8 sequence: back up over continuation bytes */
        while (keep > 0 && ((unsigned char) s[keep] & 0xC0) == 0x80)
                keep--;
        (void) snprintf(marker, sizeof marker, "...[truncated %zu bytes]", len - keep);

        r = malloc(keep + strlen(marker) + 1);
        if (!r)
                return NULL;
        memcpy(r, s, keep);
        strcpy(r + keep, marker);
        return r;
}

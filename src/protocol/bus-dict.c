/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <errno.h>
#include <stdio.h>

#include "bus-dict.h"

int lvss_bus_open_array_entry(sd_bus_message *m, const char *key, const char *element) {
        char sig[32];
        int r;

        if (!m || !key || !element || (size_t) snprintf(sig, sizeof sig, "a%s", element) >= sizeof sig)
                return -EINVAL;
        r = sd_bus_message_open_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, sig);
        if (r >= 0)
                r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, element);
        return r < 0 ? r : 0;
}

int lvss_bus_close_array_entry(sd_bus_message *m) {
        int r = 0;

        if (!m)
                return -EINVAL;
        for (unsigned i = 0; r >= 0 && i < 3; i++) /* the array, the variant, the entry */
                r = sd_bus_message_close_container(m);
        return r < 0 ? r : 0;
}

int lvss_bus_read_entries(sd_bus_message *m, lvss_bus_entry_fn entry, void *userdata) {
        int r;

        if (!m || !entry)
                return -EINVAL;
        for (;;) {
                const char *key;

                r = sd_bus_message_enter_container(m, SD_BUS_TYPE_DICT_ENTRY, "sv");
                if (r == -ENXIO)
                        return -EBADMSG;
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read_basic(m, SD_BUS_TYPE_STRING, &key);
                if (r < 0)
                        return r;
                r = entry(m, key, userdata);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(m);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-id128.h>

#include "basic/errno-hresult.h"
#include "basic/util.h"
#include "protocol.h"

int lvss_bus_connect(const char *path, sd_bus **ret) {
        _cleanup_(freep) char *own = NULL, *address = NULL;
        sd_bus *bus = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (!path) {
                r = lvss_socket_path(&own);
                if (r < 0)
                        return r;
                path = own;
        }
        if (asprintf(&address, "unix:path=%s", path) < 0)
                return -ENOMEM;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, false);
        /* The peer is lvssd itself: a writer must accept its events even when
         * lvssd runs under another uid (sd-bus checks untrusted callers). */
        if (r >= 0)
                r = sd_bus_set_trusted(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

int lvss_bus_error_set_hresult(sd_bus_error *e, vss_hresult hr, const char *fmt, ...) {
        _cleanup_(freep) char *message = NULL;
        char name[128];
        const char *n = vss_hresult_name(hr);
        va_list ap;
        int k = -1;

        if (n)
                snprintf(name, sizeof name, LVSS_ERROR_PREFIX "%s", n);
        else
                snprintf(name, sizeof name, LVSS_ERROR_PREFIX "0x%08X", (unsigned) hr);

        /* Not cut here: a silent cut loses the end of the message, often the
         * cause. What a message echoes from other processes is bounded where
         * it is formatted (basic/bounded.h). */
        if (fmt) {
                va_start(ap, fmt);
                k = vasprintf(&message, fmt, ap);
                va_end(ap);
        }
        if (k < 0)
                message = NULL;

        return sd_bus_error_set(e, name, message ? message : vss_hresult_text(hr));
}

vss_hresult lvss_bus_error_to_hresult(const sd_bus_error *e, int r) {
        vss_hresult hr;

        if (e && sd_bus_error_is_set(e)) {
                if (strncmp(e->name, LVSS_ERROR_PREFIX, strlen(LVSS_ERROR_PREFIX)) == 0) {
                        const char *n = e->name + strlen(LVSS_ERROR_PREFIX);
                        if (vss_hresult_from_name(n, &hr) == VSS_S_OK)
                                return hr;
                        if (strncmp(n, "0x", 2) == 0)
                                return (vss_hresult) (uint32_t) strtoul(n, NULL, 16);
                        return VSS_E_UNEXPECTED;
                }
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_ACCESS_DENIED))
                        return VSS_E_ACCESSDENIED;
                if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_MEMORY))
                        return VSS_E_OUTOFMEMORY;
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_TIMEOUT,
                                           SD_BUS_ERROR_DISCONNECTED))
                        return VSS_E_WRITER_INFRASTRUCTURE;
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_UNKNOWN_METHOD))
                        return VSS_E_INVALIDARG;
                /* sd-bus names local failures "System.Error.E…": use their errno. */
                if (strncmp(e->name, "System.Error.", 13) == 0)
                        r = -sd_bus_error_get_errno(e);
                else
                        return VSS_E_UNEXPECTED;
        }

        /* called on a failure: a missing errno is no success */
        if (r >= 0)
                return VSS_E_UNEXPECTED;
        return lvss_hresult_from_bus_errno(r);
}

int lvss_bus_append_id(sd_bus_message *m, const vss_id *id) {
        static const vss_id null_id;
        return sd_bus_message_append_array(m, 'y', (id ? id : &null_id)->bytes, 16);
}

int lvss_bus_read_id(sd_bus_message *m, vss_id *ret) {
        const void *p;
        size_t n;
        int r;

        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                return r;
        if (r == 0 || n != 16)
                return -EBADMSG;
        if (ret)
                memcpy(ret->bytes, p, 16);
        return 1;
}

vss_id lvss_id_random(void) {
        sd_id128_t id;
        vss_id v = {};

        if (sd_id128_randomize(&id) >= 0)
                memcpy(v.bytes, id.bytes, 16);
        return v;
}

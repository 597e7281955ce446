/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The component wire format, both directions (component-wire.h). The keys
 * are a table: the reader finds a key's slot and type there, marks it seen
 * (a key twice is refused) and stores through the slot's offset into
 * lvss_wire_component; the writer walks the same keys.
 */

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <lvss/types.h>

#include "basic/utf8.h"
#include "basic/util.h"
#include "bus-dict.h"
#include "component-wire.h"

typedef struct wire_key {
        const char *key;
        char type; /* 's', 'u' or 'b' */
        size_t offset;
} wire_key;

#define KEY(k, t, field) { k, t, offsetof(lvss_wire_component, field) }

static const wire_key keys[] = {
        KEY(LVSS_CW_TYPE, 'u', type),
        KEY(LVSS_CW_LOGICAL_PATH, 's', logical_path),
        KEY(LVSS_CW_NAME, 's', name),
        KEY(LVSS_CW_SELECTED, 'b', selected),
        KEY(LVSS_CW_BACKUP_SUCCEEDED, 'b', backup_succeeded),
        KEY(LVSS_CW_BACKUP_METADATA, 's', backup_metadata),
        KEY(LVSS_CW_BACKUP_STAMP, 's', backup_stamp),
        KEY(LVSS_CW_PREVIOUS_BACKUP_STAMP, 's', previous_backup_stamp),
        KEY(LVSS_CW_RESTORE_METADATA, 's', restore_metadata),
        KEY(LVSS_CW_FILE_RESTORE_STATUS, 'u', file_restore_status),
        KEY(LVSS_CW_PRE_RESTORE_FAILURE_MSG, 's', pre_restore_failure_msg),
        KEY(LVSS_CW_POST_RESTORE_FAILURE_MSG, 's', post_restore_failure_msg),
};

#define FIELD(c, k, T) ((T *) ((char *) (c) + (k)->offset))
#define CFIELD(c, k, T) ((T const *) ((const char *) (c) + (k)->offset))

int lvss_component_wire_valid(const lvss_wire_component *c) {
        if (!c || !c->name || !*c->name)
                return -EINVAL;
        if (c->type > VSS_CT_FILEGROUP)
                return -EINVAL;
        if (c->has_file_restore_status && c->file_restore_status > VSS_RS_FAILED)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *s;

                if (keys[i].type != 's')
                        continue;
                s = *CFIELD(c, &keys[i], const char *);
                if (s && !lvss_utf8_valid(s))
                        return -EINVAL;
        }
        return 0;
}

int lvss_component_wire_open_list(sd_bus_message *m) {
        return lvss_bus_open_array_entry(m, LVSS_CW_ENTRY, "a{sv}"); /* LVSS_CW_SIGNATURE */
}

int lvss_component_wire_close_list(sd_bus_message *m) {
        return lvss_bus_close_array_entry(m);
}

int lvss_component_wire_append(sd_bus_message *m, const lvss_wire_component *c) {
        int r;

        if (!m || lvss_component_wire_valid(c) < 0)
                return -EINVAL;

        r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const wire_key *k = &keys[i];

                switch (k->type) {
                case 's': {
                        const char *s = *CFIELD(c, k, const char *);
                        if (!s)
                                continue; /* absent */
                        r = sd_bus_message_append(m, "{sv}", k->key, "s", s);
                        break;
                }
                case 'u':
                        if (k->offset == offsetof(lvss_wire_component, file_restore_status) &&
                            !c->has_file_restore_status)
                                continue;
                        r = sd_bus_message_append(m, "{sv}", k->key, "u", *CFIELD(c, k, uint32_t));
                        break;
                default: /* 'b' */
                        r = sd_bus_message_append(m, "{sv}", k->key, "b", (int) *CFIELD(c, k, bool));
                        break;
                }
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(m);
}

/* Read the value of one known key into @c: its variant must hold exactly the key's type. */
static int read_value(sd_bus_message *m, const wire_key *k, lvss_wire_component *c) {
        const char contents[2] = { k->type, 0 };
        const char *s;
        uint32_t u;
        int b, r;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, contents);
        if (r == -ENXIO || r == 0)
                return -EBADMSG; /* a known key with another type */
        if (r < 0)
                return r;
        switch (k->type) {
        case 's':
                r = sd_bus_message_read_basic(m, 's', &s);
                if (r > 0 && !lvss_utf8_valid(s))
                        return -EBADMSG;
                if (r > 0)
                        *FIELD(c, k, const char *) = s;
                break;
        case 'u':
                r = sd_bus_message_read_basic(m, 'u', &u);
                if (r > 0)
                        *FIELD(c, k, uint32_t) = u;
                break;
        default:
                r = sd_bus_message_read_basic(m, 'b', &b);
                if (r > 0)
                        *FIELD(c, k, bool) = b;
                break;
        }
        if (r == 0)
                return -EBADMSG;
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* What lvss_component_wire_read() has read so far. */
typedef struct wire_reading {
        lvss_wire_component c;
        bool seen[ELEMENTSOF(keys)];
} wire_reading;

/* One entry of a component (lvss_bus_entry_fn). */
static int read_entry(sd_bus_message *m, const char *key, void *userdata) {
        wire_reading *w = userdata;
        const wire_key *k = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(keys) && !k; i++)
                if (strcmp(key, keys[i].key) == 0) {
                        if (w->seen[i])
                                return -EBADMSG; /* a key twice */
                        w->seen[i] = true;
                        k = &keys[i];
                }
        if (!k) /* A newer peer may send more: not ours to refuse. */
                return sd_bus_message_skip(m, "v");
        r = read_value(m, k, &w->c);
        if (r >= 0 && k->offset == offsetof(lvss_wire_component, file_restore_status))
                w->c.has_file_restore_status = true;
        return r;
}

int lvss_component_wire_read(sd_bus_message *m, lvss_wire_component *ret) {
        wire_reading w = {};
        int r;

        if (!m || !ret)
                return -EINVAL;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "{sv}");
        if (r == -ENXIO)
                return -EBADMSG;
        if (r <= 0)
                return r;
        r = lvss_bus_read_entries(m, read_entry, &w);
        if (r < 0)
                return r;

        /* Every string was checked as it was read; the rest of the rule is the writer's. */
        if (lvss_component_wire_valid(&w.c) < 0)
                return -EBADMSG;
        *ret = w.c;
        return 1;
}

int lvss_component_wire_read_array(sd_bus_message *m, lvss_wire_component **ret, size_t *ret_n) {
        _cleanup_(freep) lvss_wire_component *items = NULL;
        size_t n = 0, allocated = 0;
        int r;

        if (!m || !ret || !ret_n)
                return -EINVAL;

        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_VARIANT, LVSS_CW_SIGNATURE);
        if (r == -ENXIO || r == 0)
                return -EBADMSG; /* the variant holds something else */
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, SD_BUS_TYPE_ARRAY, "a{sv}");
        if (r < 0)
                return r;

        /* All of them first (their strings stay in @m), so a refused list is not half applied. */
        for (;;) {
                lvss_wire_component c;

                r = lvss_component_wire_read(m, &c);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                if (n >= LVSS_COMPONENT_WIRE_MAX)
                        return -EBADMSG;
                lvss_wire_component *grown = grow_array(items, n, &allocated, sizeof *items);
                if (!grown)
                        return -ENOMEM;
                items = grown;
                items[n++] = c;
        }
        r = sd_bus_message_exit_container(m); /* the array */
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m); /* the variant */
        if (r < 0)
                return r;

        *ret = TAKE_PTR(items);
        *ret_n = n;
        return 0;
}

int lvss_component_wire_read_list(sd_bus_message *m, lvss_component_wire_fn fn, void *userdata) {
        _cleanup_(freep) lvss_wire_component *items = NULL;
        size_t n = 0;
        int r;

        if (!m || !fn)
                return -EINVAL;
        r = lvss_component_wire_read_array(m, &items, &n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = fn(&items[i], userdata);
        return r < 0 ? r : 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * Retention (issue 12 §2): see retention.h for the rules. The copies are
 * walked newest first over an index array (the caller's order is kept);
 * calendar periods are computed from the seconds alone (UTC), so the result
 * depends on nothing but the arguments.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "basic/retention.h"
#include "basic/util.h"

typedef enum period {
        PERIOD_HOUR,
        PERIOD_DAY,
        PERIOD_WEEK,
        PERIOD_MONTH,
        PERIOD_YEAR,
        _PERIOD_MAX,
} period;

static int64_t floor_div(int64_t a, int64_t b) {
        int64_t q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Year and month (1..12) of day @days since 1970-01-01 in the proleptic
 * Gregorian calendar (the "civil from days" computation of 400-year eras). */
static void civil_from_days(int64_t days, int64_t *ret_year, int *ret_month) {
        int64_t z = days + 719468;
        int64_t era = floor_div(z, 146097);
        int64_t doe = z - era * 146097;                                 /* [0, 146096] */
        int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
        int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);           /* [0, 365] */
        int64_t mp = (5 * doy + 2) / 153;                                /* [0, 11], from March */
        int month = (int) (mp < 10 ? mp + 3 : mp - 9);

        *ret_year = yoe + era * 400 + (month <= 2);
        *ret_month = month;
}

/* A number that is equal for two times exactly when they fall in the same period. */
static int64_t bucket_of(int64_t t, period p) {
        int64_t days = floor_div(t, 86400), year;
        int month;

        switch (p) {
        case PERIOD_HOUR:
                return floor_div(t, 3600);
        case PERIOD_DAY:
                return days;
        case PERIOD_WEEK:
                return floor_div(days + 3, 7); /* 1970-01-01 was a Thursday; weeks start on Monday */
        case PERIOD_MONTH:
                civil_from_days(days, &year, &month);
                return year * 12 + (month - 1);
        case PERIOD_YEAR:
                civil_from_days(days, &year, &month);
                return year;
        default:
                return 0;
        }
}

bool lvss_retention_rules_set(const lvss_retention_rules *rules) {
        return rules && (rules->keep_newest || rules->keep_hourly || rules->keep_daily || rules->keep_weekly ||
                         rules->keep_monthly || rules->keep_yearly || rules->max_age_sec);
}

typedef struct order_entry {
        int64_t created;
        size_t index;
} order_entry;

static int newest_first(const void *a, const void *b) {
        const order_entry *x = a, *y = b;

        if (x->created != y->created)
                return x->created > y->created ? -1 : 1;
        return x->index > y->index ? -1 : x->index < y->index ? 1 : 0;
}

/* The copies, newest first; creation times after @now count as @now. */
static order_entry *order_copies(const lvss_retention_copy *copies, size_t n, int64_t now) {
        order_entry *o = calloc(n ? n : 1, sizeof *o);

        if (!o)
                return NULL;
        for (size_t i = 0; i < n; i++)
                o[i] = (order_entry) { .created = copies[i].created > now ? now : copies[i].created, .index = i };
        qsort(o, n, sizeof *o, newest_first);
        return o;
}

int lvss_retention_select(lvss_retention_copy *copies, size_t n, const lvss_retention_rules *rules, int64_t now) {
        _cleanup_(freep) order_entry *o = NULL;
        _cleanup_(freep) bool *keep = NULL;
        size_t live = 0, chosen = 0;
        const unsigned counts[_PERIOD_MAX] = {
                [PERIOD_HOUR] = rules ? rules->keep_hourly : 0,   [PERIOD_DAY] = rules ? rules->keep_daily : 0,
                [PERIOD_WEEK] = rules ? rules->keep_weekly : 0,   [PERIOD_MONTH] = rules ? rules->keep_monthly : 0,
                [PERIOD_YEAR] = rules ? rules->keep_yearly : 0,
        };
        bool any_keep;

        for (size_t i = 0; i < n; i++)
                copies[i].remove = false;
        if (n == 0 || !lvss_retention_rules_set(rules))
                return 0;

        o = order_copies(copies, n, now);
        keep = calloc(n, sizeof *keep);
        if (!o || !keep)
                return -ENOMEM;

        /* The copies younger than MaxAge come first in @o: they are the newest. */
        while (live < n && !(rules->max_age_sec && (uint64_t) (now - o[live].created) > rules->max_age_sec))
                live++;

        any_keep = rules->keep_newest > 0;
        for (size_t p = 0; p < _PERIOD_MAX; p++)
                any_keep = any_keep || counts[p] > 0;

        if (!any_keep)
                for (size_t j = 0; j < live; j++)
                        keep[j] = true;
        for (size_t j = 0; j < live && j < rules->keep_newest; j++)
                keep[j] = true;

        for (size_t p = 0; p < _PERIOD_MAX; p++) {
                unsigned seen = 0;
                int64_t current = 0;
                size_t last = 0;

                if (counts[p] == 0)
                        continue;
                /* Newest first, the copies of one period are next to each other;
                 * the last one met in a period is its oldest. */
                for (size_t j = 0; j < live; j++) {
                        int64_t b = bucket_of(o[j].created, (period) p);

                        if (seen == 0 || b != current) {
                                if (seen > 0)
                                        keep[last] = true;
                                if (seen == counts[p])
                                        break;
                                seen++;
                                current = b;
                        }
                        last = j;
                        if (j + 1 == live)
                                keep[last] = true;
                }
        }

        for (size_t j = 0; j < n; j++) {
                lvss_retention_copy *c = &copies[o[j].index];

                if (!keep[j] && !c->in_use) {
                        c->remove = true;
                        chosen++;
                }
        }
        return (int) chosen;
}

int lvss_retention_make_room(lvss_retention_copy *copies, const uint64_t *sizes, size_t n, uint64_t need,
                             uint64_t *ret_freed) {
        _cleanup_(freep) order_entry *o = NULL;
        uint64_t freed = 0;
        size_t j;

        for (size_t i = 0; i < n; i++)
                copies[i].remove = false;
        o = order_copies(copies, n, INT64_MAX);
        if (!o)
                return -ENOMEM;

        /* Oldest first: @o is newest first. */
        for (j = n; j > 0 && freed < need; j--) {
                lvss_retention_copy *c = &copies[o[j - 1].index];

                if (c->in_use)
                        continue;
                c->remove = true;
                freed = sizes[o[j - 1].index] > UINT64_MAX - freed ? UINT64_MAX : freed + sizes[o[j - 1].index];
        }
        if (ret_freed)
                *ret_freed = freed;
        if (freed < need) {
                for (size_t i = 0; i < n; i++)
                        copies[i].remove = false;
                return -ENOSPC;
        }
        return 0;
}

/* ---- values --------------------------------------------------------------- */

static int parse_number(const char *s, const char **ret_end, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!s || *s < '0' || *s > '9')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || end == s)
                return -EINVAL;
        *ret = v;
        *ret_end = end;
        return 0;
}

int lvss_parse_size(const char *s, uint64_t *ret_bytes, unsigned *ret_percent) {
        static const struct {
                const char *suffix;
                unsigned shift;
        } units[] = {
                { "", 0 },    { "B", 0 },    { "K", 10 },   { "KB", 10 }, { "KiB", 10 }, { "M", 20 },
                { "MB", 20 }, { "MiB", 20 }, { "G", 30 },   { "GB", 30 }, { "GiB", 30 }, { "T", 40 },
                { "TB", 40 }, { "TiB", 40 },
        };
        const char *end;
        uint64_t v;

        if (!s || !ret_bytes || !ret_percent)
                return -EINVAL;
        if (strcasecmp(s, "UNBOUNDED") == 0) {
                *ret_bytes = 0;
                *ret_percent = 0;
                return 0;
        }
        if (parse_number(s, &end, &v) < 0)
                return -EINVAL;
        if (strcmp(end, "%") == 0) {
                if (v < 1 || v > 100)
                        return -EINVAL;
                *ret_bytes = 0;
                *ret_percent = (unsigned) v;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(end, units[i].suffix) == 0) {
                        if (v == 0 || v > (UINT64_MAX >> units[i].shift))
                                return -EINVAL;
                        *ret_bytes = v << units[i].shift;
                        *ret_percent = 0;
                        return 0;
                }
        return -EINVAL;
}

int lvss_parse_duration_sec(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t sec;
        } units[] = {
                { "", 1 }, { "s", 1 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 }, { "w", 604800 } /* a week */,
        };
        const char *end;
        uint64_t v;

        if (!ret || parse_number(s, &end, &v) < 0)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcmp(end, units[i].suffix) == 0) {
                        if (v == 0 || v > UINT64_MAX / units[i].sec / 2)
                                return -EINVAL;
                        *ret = v * units[i].sec;
                        return 0;
                }
        return -EINVAL;
}

int lvss_parse_keep(const char *s, unsigned *ret) {
        const char *end;
        uint64_t v;

        if (!ret || parse_number(s, &end, &v) < 0 || *end || v > 100000)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests: issue 12 §2, retention keeps exactly what the rules say
 * across a simulated sequence of creation times (src/basic/retention.h).
 *
 * The simulation makes copies at a fixed interval and applies the rules
 * after each one, as lvssd does after each persistent shadow copy. What
 * must survive is computed here a second way: the periods come from
 * gmtime_r()/strftime() keys ("%Y-%m-%d %H", ISO "%G-W%V", ...) instead of
 * the function's arithmetic, and each copy is judged on its own ("is it
 * the oldest of its period, and is its period among the N newest?")
 * instead of in one walk. At the end of the 90-day run the survivors are
 * also compared with a list written out by hand.
 */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "basic/retention.h"
#include "basic/util.h"

#define MAX_LIVE 4096

typedef struct sim {
        int64_t created[MAX_LIVE];
        bool in_use[MAX_LIVE];
        size_t n;
} sim;

static void key_of(int64_t t, int period, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;
        size_t k = 0;

        assert_non_null(gmtime_r(&tt, &tm));
        switch (period) {
        case 0:
                k = strftime(buf, size, "%Y-%m-%d %H", &tm);
                break;
        case 1:
                k = strftime(buf, size, "%Y-%m-%d", &tm);
                break;
        case 2:
                k = strftime(buf, size, "%G-W%V", &tm); /* ISO week: Monday first */
                break;
        case 3:
                k = strftime(buf, size, "%Y-%m", &tm);
                break;
        default:
                k = strftime(buf, size, "%Y", &tm);
                break;
        }
        assert_true(k > 0);
}

/* The expectation, copy by copy: @s is sorted oldest first. */
static bool expected_keep(const sim *s, size_t i, const lvss_retention_rules *r, int64_t now) {
        const unsigned counts[5] = { r->keep_hourly, r->keep_daily, r->keep_weekly, r->keep_monthly, r->keep_yearly };
        bool any = r->keep_newest > 0;
        size_t newer = 0;

        if (s->in_use[i])
                return true;
        if (r->max_age_sec && now - s->created[i] > (int64_t) r->max_age_sec)
                return false;
        for (size_t p = 0; p < 5; p++)
                any = any || counts[p] > 0;
        if (!any)
                return true;

        for (size_t j = i + 1; j < s->n; j++)
                if (!(r->max_age_sec && now - s->created[j] > (int64_t) r->max_age_sec))
                        newer++;
        if (newer < r->keep_newest)
                return true;

        for (size_t p = 0; p < 5; p++) {
                char mine[64], other[64], seen[MAX_LIVE][16];
                size_t n_seen = 0;
                bool oldest = true;

                if (counts[p] == 0)
                        continue;
                key_of(s->created[i], (int) p, mine, sizeof mine);
                /* the oldest unexpired copy of its period? */
                for (size_t j = 0; j < i; j++) {
                        if (r->max_age_sec && now - s->created[j] > (int64_t) r->max_age_sec)
                                continue;
                        key_of(s->created[j], (int) p, other, sizeof other);
                        if (strcmp(other, mine) == 0)
                                oldest = false;
                }
                if (!oldest)
                        continue;
                /* distinct periods newer than its own */
                for (size_t j = i + 1; j < s->n; j++) {
                        bool dup = false;

                        key_of(s->created[j], (int) p, other, sizeof other);
                        if (strcmp(other, mine) == 0)
                                continue;
                        for (size_t k = 0; k < n_seen && !dup; k++)
                                dup = strcmp(seen[k], other) == 0;
                        if (!dup) {
                                assert_true(strlen(other) < sizeof seen[0]);
                                strcpy(seen[n_seen++], other);
                        }
                }
                if (n_seen < counts[p])
                        return true;
        }
        return false;
}

/* Adds a copy at @t, applies the rules with the function under test and the
 * expectation, checks they agree, and keeps the survivors. @shuffle passes
 * the copies to the function in a different order each step. */
static void step(sim *s, int64_t t, bool in_use, const lvss_retention_rules *r, unsigned shuffle) {
        lvss_retention_copy copies[MAX_LIVE];
        bool expect[MAX_LIVE];
        size_t map[MAX_LIVE], n_expected_removed = 0, kept = 0;
        int chosen;

        assert_true(s->n < MAX_LIVE);
        s->created[s->n] = t;
        s->in_use[s->n] = in_use;
        s->n++;

        for (size_t i = 0; i < s->n; i++) {
                expect[i] = expected_keep(s, i, r, t);
                n_expected_removed += !expect[i];
        }
        /* A rotation of the oldest-first order: the function takes any order. */
        for (size_t i = 0; i < s->n; i++) {
                map[i] = (i + shuffle) % s->n;
                copies[i] = (lvss_retention_copy) { .created = s->created[map[i]], .in_use = s->in_use[map[i]] };
        }
        chosen = lvss_retention_select(copies, s->n, r, t);
        assert_int_equal(chosen, (int) n_expected_removed);
        for (size_t i = 0; i < s->n; i++)
                if (copies[i].remove == expect[map[i]]) {
                        char when[64];
                        key_of(s->created[map[i]], 0, when, sizeof when);
                        fail_msg("step at %lld: copy of %s:00 %s, expected %s", (long long) t, when,
                                 copies[i].remove ? "removed" : "kept", expect[map[i]] ? "kept" : "removed");
                }

        for (size_t i = 0; i < s->n; i++)
                if (expect[i]) {
                        s->created[kept] = s->created[i];
                        s->in_use[kept] = s->in_use[i];
                        kept++;
                }
        s->n = kept;
}

static int64_t utc(int y, int mo, int d, int h, int mi) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };
        return (int64_t) timegm(&tm);
}

/* One copy per hour for 90 days (2026-01-01 00:00 … 03-31 23:00 UTC). */
static void test_hourly_for_90_days(void **state) {
        static sim s;
        const lvss_retention_rules r = {
                .keep_newest = 5,
                .keep_hourly = 10,
                .keep_daily = 7,
                .keep_weekly = 4,
                .keep_monthly = 3,
                .max_age_sec = 80 * 86400,
        };
        const int64_t start = utc(2026, 1, 1, 0, 0);
        /* Written out by hand for the last step: the 10 newest hours, the
         * midnights of the 7 newest days, the Mondays of the 4 newest weeks
         * (30 March is one of the 7 days), the first of the 3 newest months
         * but January's (older than 80 days). */
        const int64_t survivors[] = {
                utc(2026, 2, 1, 0, 0),   utc(2026, 3, 1, 0, 0),   utc(2026, 3, 9, 0, 0),   utc(2026, 3, 16, 0, 0),
                utc(2026, 3, 23, 0, 0),  utc(2026, 3, 25, 0, 0),  utc(2026, 3, 26, 0, 0),  utc(2026, 3, 27, 0, 0),
                utc(2026, 3, 28, 0, 0),  utc(2026, 3, 29, 0, 0),  utc(2026, 3, 30, 0, 0),  utc(2026, 3, 31, 0, 0),
                utc(2026, 3, 31, 14, 0), utc(2026, 3, 31, 15, 0), utc(2026, 3, 31, 16, 0), utc(2026, 3, 31, 17, 0),
                utc(2026, 3, 31, 18, 0), utc(2026, 3, 31, 19, 0), utc(2026, 3, 31, 20, 0), utc(2026, 3, 31, 21, 0),
                utc(2026, 3, 31, 22, 0), utc(2026, 3, 31, 23, 0),
        };

        s.n = 0;
        for (unsigned h = 0; h < 90 * 24; h++)
                step(&s, start + (int64_t) h * 3600, false, &r, h);

        assert_int_equal(s.n, ELEMENTSOF(survivors));
        for (size_t i = 0; i < s.n; i++)
                assert_int_equal(s.created[i], survivors[i]);
}

/* Several copies per period (every 20 minutes for 15 days), one of them held
 * by a session for a day, and the yearly rule across a new year. */
static void test_every_20_minutes_with_one_in_use(void **state) {
        static sim s;
        const lvss_retention_rules r = {
                .keep_hourly = 3,
                .keep_daily = 2,
                .keep_yearly = 2,
        };
        const int64_t start = utc(2026, 12, 25, 0, 10), held = utc(2026, 12, 27, 13, 30);
        bool held_seen = false;

        s.n = 0;
        for (unsigned i = 0; i < 15 * 24 * 3; i++) {
                int64_t t = start + (int64_t) i * 1200;

                /* The session lets go of the held copy a day after it was made. */
                for (size_t j = 0; j < s.n; j++)
                        if (s.created[j] == held && t >= held + 86400)
                                s.in_use[j] = false;
                step(&s, t, t == held, &r, i * 7);
                if (t >= held && t < held + 86400) {
                        bool there = false;
                        for (size_t j = 0; j < s.n; j++)
                                there = there || s.created[j] == held;
                        assert_true(there);
                        held_seen = true;
                }
        }
        assert_true(held_seen);
        /* The held copy went once let go (it is the oldest of no period). */
        for (size_t j = 0; j < s.n; j++)
                assert_int_not_equal(s.created[j], held);
        /* 2026 keeps its first copy for the yearly rule. */
        assert_int_equal(s.created[0], start);
}

static void test_no_rules_keep_everything(void **state) {
        lvss_retention_copy c[3] = { { .created = 1 }, { .created = 2 }, { .created = 3 } };
        const lvss_retention_rules none = {}, age = { .max_age_sec = 10 }, newest = { .keep_newest = 1 };

        assert_false(lvss_retention_rules_set(&none));
        assert_int_equal(lvss_retention_select(c, 3, &none, 1000), 0);
        assert_int_equal(lvss_retention_select(c, 3, NULL, 1000), 0);
        /* MaxAge alone: what is younger stays. */
        assert_int_equal(lvss_retention_select(c, 3, &age, 12), 1);
        assert_true(c[0].remove);
        assert_false(c[1].remove || c[2].remove);
        /* vssadmin delete shadows --keep=1; equal times: the later one is newer. */
        c[1].created = 3;
        assert_int_equal(lvss_retention_select(c, 3, &newest, 100), 2);
        assert_true(c[0].remove && c[1].remove && !c[2].remove);
        /* A copy from the future (clock set back) counts as made now. */
        c[0].created = 5000;
        assert_int_equal(lvss_retention_select(c, 3, &newest, 100), 2);
        assert_false(c[0].remove);
}

static void test_make_room_oldest_first(void **state) {
        lvss_retention_copy c[4] = {
                { .created = 40 }, { .created = 10 }, { .created = 20, .in_use = true }, { .created = 30 },
        };
        const uint64_t sizes[4] = { 100, 5, 1000, 7 };
        uint64_t freed = 0;

        /* the oldest (10) is enough */
        assert_int_equal(lvss_retention_make_room(c, sizes, 4, 5, &freed), 0);
        assert_int_equal(freed, 5);
        assert_true(c[1].remove && !c[0].remove && !c[2].remove && !c[3].remove);
        /* past the one in use to 30 */
        assert_int_equal(lvss_retention_make_room(c, sizes, 4, 6, &freed), 0);
        assert_int_equal(freed, 12);
        assert_true(c[1].remove && c[3].remove && !c[0].remove && !c[2].remove);
        /* never the one in use: even all the others are not enough, and none is chosen */
        assert_int_equal(lvss_retention_make_room(c, sizes, 4, 113, &freed), -ENOSPC);
        assert_int_equal(freed, 112);
        for (size_t i = 0; i < 4; i++)
                assert_false(c[i].remove);
        assert_int_equal(lvss_retention_make_room(c, sizes, 4, 0, &freed), 0);
        assert_int_equal(freed, 0);
}

static void test_values(void **state) {
        uint64_t b = 7, sec = 7;
        unsigned pct = 7, keep = 7;

        assert_int_equal(lvss_parse_size("10G", &b, &pct), 0);
        assert_true(b == 10ULL << 30 && pct == 0);
        assert_int_equal(lvss_parse_size("512KiB", &b, &pct), 0);
        assert_int_equal(b, 512 * 1024);
        assert_int_equal(lvss_parse_size("4096", &b, &pct), 0);
        assert_int_equal(b, 4096);
        assert_int_equal(lvss_parse_size("20%", &b, &pct), 0);
        assert_true(b == 0 && pct == 20);
        assert_int_equal(lvss_parse_size("unbounded", &b, &pct), 0);
        assert_true(b == 0 && pct == 0);
        b = 7;
        const char *const bad_sizes[] = { "", "G", "0", "-1", "101%", "0%", "10X", "1.5G", "99999999999T", "10 G" };
        for (size_t i = 0; i < ELEMENTSOF(bad_sizes); i++) {
                assert_int_equal(lvss_parse_size(bad_sizes[i], &b, &pct), -EINVAL);
                assert_int_equal(b, 7); /* untouched */
        }
        assert_int_equal(lvss_parse_duration_sec("90d", &sec), 0);
        assert_int_equal(sec, 90 * 86400);
        assert_int_equal(lvss_parse_duration_sec("2w", &sec), 0);
        assert_int_equal(sec, 14 * 86400);
        assert_int_equal(lvss_parse_duration_sec("30min", &sec), 0);
        assert_int_equal(sec, 1800);
        assert_int_equal(lvss_parse_duration_sec("0", &sec), -EINVAL);
        assert_int_equal(lvss_parse_duration_sec("5y", &sec), -EINVAL);
        assert_int_equal(lvss_parse_keep("0", &keep), 0);
        assert_int_equal(keep, 0);
        assert_int_equal(lvss_parse_keep("24", &keep), 0);
        assert_int_equal(keep, 24);
        assert_int_equal(lvss_parse_keep("-1", &keep), -EINVAL);
        assert_int_equal(lvss_parse_keep("100001", &keep), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hourly_for_90_days),
                cmocka_unit_test(test_every_20_minutes_with_one_in_use),
                cmocka_unit_test(test_no_rules_keep_everything),
                cmocka_unit_test(test_make_room_oldest_first),
                cmocka_unit_test(test_values),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

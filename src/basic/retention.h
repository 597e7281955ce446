/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Retention of shadow copies (issue 12 §2), like snapper's cleanup: which
 * of a volume's persistent shadow copies go, given when each was made, the
 * volume's rules and the time now. Pure: no clock, no file system, no
 * catalog; lvssd, vssadmin and the unit test (tests/unit/test-retention.c)
 * all ask the same function.
 *
 * The rules (lvssd.conf, a [Volume PATH] section; lvssd(8) RETENTION):
 *   KeepNewest=N      the N newest copies are kept;
 *   KeepHourly=N      one copy, the oldest, of each of the N newest hours
 *   KeepDaily=N       (days, ISO weeks starting on Monday, months, years)
 *   KeepWeekly=N      that have a copy is kept; periods are UTC calendar
 *   KeepMonthly=N     periods, so that a change of the local time zone or
 *   KeepYearly=N      of daylight saving time never moves them;
 *   MaxAge=DURATION   a copy older than this goes even when a rule above
 *                     would keep it.
 * A copy is kept when one of the Keep rules keeps it and it is not older
 * than MaxAge. Without any Keep rule every copy younger than MaxAge is
 * kept; without any rule at all, every copy (retention is off). A copy in
 * use (a session holds it, it is being exposed or restored) is never
 * chosen, whatever the rules say; it still counts as the copy that fills
 * its place in a rule, so that the rules do not keep one more because of it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lvss_retention_rules {
        unsigned keep_newest;
        unsigned keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly;
        uint64_t max_age_sec; /* 0: no maximum age */
} lvss_retention_rules;

typedef struct lvss_retention_copy {
        int64_t created; /* seconds since the epoch (UTC) */
        bool in_use;     /* held by a session, being exposed or restored: never chosen */
        bool remove;     /* out: lvss_retention_select() chose it */
} lvss_retention_copy;

/* Does @rules say anything (some Keep rule or MaxAge)? */
bool lvss_retention_rules_set(const lvss_retention_rules *rules);

/**
 * lvss_retention_select() - marks the copies the rules let go.
 * @copies: @n copies in any order; only ->remove is written.
 * @rules: the volume's rules; none set: nothing is chosen.
 * @now: seconds since the epoch.
 *
 * Copies with equal creation times are ordered by their place in @copies
 * (a later one is newer). A copy made after @now (a clock set back) is
 * treated as made now. Returns the number of copies chosen, or -ENOMEM
 * (nothing chosen).
 */
int lvss_retention_select(lvss_retention_copy *copies, size_t n, const lvss_retention_rules *rules,
                             int64_t now);

/**
 * lvss_retention_make_room() - marks the oldest copies not in use until
 * their sizes add up to @need bytes (storage full, issue 12 §2).
 * @sizes: bytes of each copy.
 *
 * Returns 0 with *@ret_freed the bytes of the chosen copies (>= @need);
 * -ENOSPC when all the copies not in use would not make room (then none is
 * chosen and *@ret_freed is what they would have freed); -ENOMEM.
 */
int lvss_retention_make_room(lvss_retention_copy *copies, const uint64_t *sizes, size_t n, uint64_t need,
                             uint64_t *ret_freed);

/*
 * Values of the config keys and of vssadmin's options; each returns 0 or
 * -EINVAL and leaves *ret untouched on failure.
 *
 * lvss_parse_size(): "UNBOUNDED" (*ret_bytes = 0, *ret_percent = 0),
 * "N%" (1..100: *ret_percent), or bytes "N" with an optional K, M, G or T
 * (powers of 1024; a trailing "B" or "iB" is allowed) into *ret_bytes.
 */
int lvss_parse_size(const char *s, uint64_t *ret_bytes, unsigned *ret_percent);
/* "N" seconds or N with s, min, h, d, w (weeks); 0 is refused. */
int lvss_parse_duration_sec(const char *s, uint64_t *ret);
/* A count 0..100000 (0: the rule is off). */
int lvss_parse_keep(const char *s, unsigned *ret);

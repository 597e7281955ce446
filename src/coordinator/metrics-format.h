/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * metrics-format.c: the Prometheus text exposition format (version 0.0.4),
 * written to a stdio stream: HELP and TYPE lines, samples with escaped label
 * values, and histograms (cumulative buckets up to le="+Inf", _sum, _count).
 * Pure C, no lvssd state: test-metrics-format checks it alone.
 */

#include <stdint.h>
#include <stdio.h>

/* "# HELP name text" (text escaped: backslash, newline) and "# TYPE name type". */
void prom_header(FILE *f, const char *name, const char *help, const char *type);

/*
 * One sample: name{k1="v1",k2="v2"} value. @labels holds key, value pairs
 * and ends with NULL (may be NULL: no labels); a pair whose value is NULL is
 * left out. Label values are escaped as the format says (\\, \", \n).
 */
void prom_sample(FILE *f, const char *name, const char *const *labels, double value);

/* A label value escaped into @f (without the quotes). */
void prom_escape_label_value(FILE *f, const char *v);

/* A value as the format writes it: +Inf, -Inf, NaN, or the shortest exact decimal. */
void prom_value(FILE *f, double v);

/*
 * A histogram's state: @bounds are the upper bounds, ascending, without +Inf;
 * @counts has n_bounds + 1 slots, NOT cumulative (the last one: above every
 * bound); sum and count of every observation.
 */
typedef struct PromHistogram {
        const double *bounds;
        size_t n_bounds;
        uint64_t *counts;
        double sum;
        uint64_t count;
} PromHistogram;

void prom_histogram_observe(PromHistogram *h, double v);
/* name_bucket{labels…,le="b"} (cumulative), le="+Inf", name_sum, name_count. */
void prom_histogram(FILE *f, const char *name, const char *const *labels, const PromHistogram *h);

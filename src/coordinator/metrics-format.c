/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * The Prometheus text exposition format, as node_exporter's textfile
 * collector reads it (issue 12 §3). See metrics-format.h; the rules kept
 * here: label values escape backslash, double quote and newline; HELP text
 * escapes backslash and newline; histogram buckets are cumulative and end
 * with le="+Inf", whose count equals _count.
 */

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics-format.h"

/* @v with backslash and newline escaped, and double quote too when @quote (label values; HELP
 * text leaves it as it is) */
static void escape(FILE *f, const char *v, bool quote) {
        for (const char *p = v; *p; p++)
                if (*p == '\\')
                        fputs("\\\\", f);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p == '"' && quote)
                        fputs("\\\"", f);
                else
                        fputc(*p, f);
}

void prom_escape_label_value(FILE *f, const char *v) {
        escape(f, v, true);
}

void prom_header(FILE *f, const char *name, const char *help, const char *type) {
        fprintf(f, "# HELP %s ", name);
        escape(f, help, false);
        fprintf(f, "\n# TYPE %s %s\n", name, type);
}

void prom_value(FILE *f, double v) {
        if (isnan(v))
                fputs("NaN", f);
        else if (isinf(v))
                fputs(v > 0 ? "+Inf" : "-Inf", f);
        else if (v > -1e15 && v < 1e15 && v == (double) (long long) v)
                fprintf(f, "%lld", (long long) v); /* counts and whole seconds as integers */
        else {
                /* the shortest of 15 to 17 digits that reads back as @v: "0.1", not "0.10000000000000001" */
                char buf[32];
                for (int digits = 15; digits <= 17; digits++) {
                        snprintf(buf, sizeof buf, "%.*g", digits, v);
                        if (strtod(buf, NULL) == v)
                                break;
                }
                fputs(buf, f);
        }
}

static void labels_open(FILE *f, const char *const *labels, bool *first) {
        for (size_t i = 0; labels && labels[i]; i += 2) {
                if (!labels[i + 1])
                        continue;
                fputs(*first ? "{" : ",", f);
                *first = false;
                fprintf(f, "%s=\"", labels[i]);
                prom_escape_label_value(f, labels[i + 1]);
                fputc('"', f);
        }
}

void prom_sample(FILE *f, const char *name, const char *const *labels, double value) {
        bool first = true;

        fputs(name, f);
        labels_open(f, labels, &first);
        if (!first)
                fputc('}', f);
        fputc(' ', f);
        prom_value(f, value);
        fputc('\n', f);
}

void prom_histogram_observe(PromHistogram *h, double v) {
        size_t i = 0;

        while (i < h->n_bounds && v > h->bounds[i])
                i++;
        h->counts[i]++;
        h->sum += v;
        h->count++;
}

static void bucket(FILE *f, const char *name, const char *const *labels, double le, uint64_t n) {
        bool first = true;

        fprintf(f, "%s_bucket", name);
        labels_open(f, labels, &first);
        fputs(first ? "{le=\"" : ",le=\"", f);
        prom_value(f, le);
        fprintf(f, "\"} %llu\n", (unsigned long long) n);
}

void prom_histogram(FILE *f, const char *name, const char *const *labels, const PromHistogram *h) {
        char n_sum[256], n_count[256];
        uint64_t cum = 0;

        for (size_t i = 0; i < h->n_bounds; i++) {
                cum += h->counts[i];
                bucket(f, name, labels, h->bounds[i], cum);
        }
        cum += h->counts[h->n_bounds];
        bucket(f, name, labels, INFINITY, cum);
        /* our own names, far below the size */
        snprintf(n_sum, sizeof n_sum, "%s_sum", name);
        snprintf(n_count, sizeof n_count, "%s_count", name);
        prom_sample(f, n_sum, labels, h->sum);
        prom_sample(f, n_count, labels, (double) h->count);
}

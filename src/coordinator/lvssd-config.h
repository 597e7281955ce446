/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * config.c: lvssd's options, from the command line and /etc/lvss/lvssd.conf.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <lvss/types.h>

#include "basic/retention.h"

/* WriterOwner=CLASS-ID:USER (issue 8 item 4): only @uid may subscribe with @writer_id. */
typedef struct WriterOwnerRule {
        vss_id writer_id;
        uid_t uid;
} WriterOwnerRule;

/* issue 12 §2: a [Volume PATH] section of lvssd.conf: the copy provider's
 * storage limit and the retention rules of PATH's shadow copies. */
typedef struct VolumePolicy {
        char *volume;          /* as written (absolute) */
        char *canonical;       /* realpath at start-up (config_finish), NULL when it did not exist */
        uint64_t max_bytes;    /* MaxSize=N[KMGT]; 0: none */
        unsigned max_percent;  /* MaxSize=N%; 0: none */
        lvss_retention_rules rules;
} VolumePolicy;

typedef struct Config {
        char *socket_path;
        char *state_dir;
        char *config_file;
        char *storage_dir;          /* shadow storage area of the copy provider */
        char *log_target;           /* LogTarget=, --log-target: auto (NULL), journal, stderr (issue 12 §3) */
        char *metrics_file;         /* MetricsFile= (issue 12 §3): Prometheus textfile, NULL: none */
        bool foreground;
        uint64_t identify_timeout_usec;
        uint64_t event_timeout_usec;
        uint64_t hold_window_usec;
        uint64_t freeze_margin_usec; /* the commit ends this long before a writer's freeze timeout (item 8.3) */
        uint64_t provider_step_timeout_usec; /* ProviderStepTimeoutMS=: a provider step's worker is killed after it (issue 11 §1) */
        uint64_t external_hold_limit_usec; /* ExternalHoldLimitMS=: the longest an external freeze is held (issue 10) */
        char *requester_group;      /* default "backup" */
        char **writer_users;        /* NULL-terminated, may be NULL */
        /* issue 11 §1: the two above resolved once, at start-up (config_resolve_accounts()); never per call */
        bool requester_gid_known;
        gid_t requester_gid;
        uid_t *writer_uids;         /* the WriterUsers= that exist, n_writer_uids of them */
        size_t n_writer_uids;
        char **exec_providers;      /* "NAME:PROGRAM", NULL-terminated, may be NULL */
        char **freeze_providers;    /* FreezeFilesystems=: exec providers frozen around commit (issue 10 part 3) */
        char *default_provider;     /* a provider name, or NULL: automatic */
        /* issue 8 item 4: writer classes bound to a user by configuration (WriterOwner=, --writer-owner) */
        WriterOwnerRule *writer_owners;
        size_t n_writer_owners;
        /* issue 8 item 5 */
        uint64_t set_idle_timeout_usec;  /* a session holding the set in creation, idle this long, is aborted */
        unsigned max_sessions_per_user;  /* open sessions per uid (root exempt) */
        /* issue 8: the writer_owners table is bounded */
        unsigned max_writer_classes_per_user; /* classes the catalog binds to one uid (root, lvssd's uid exempt) */

        /* connection limits (issue 8, items 1 and 2; server.c) */
        unsigned max_connections;          /* all peers together; the last quarter is for privileged ones */
        unsigned max_connections_per_user; /* per uid that may not act as requester */
        uint64_t idle_timeout_usec;        /* a connection without a role and nothing going on is closed */
        unsigned max_unsent_messages;      /* stop reading from a peer with more queued for it */
        uint64_t unsent_timeout_usec;      /* close a peer that stays above max_unsent_messages this long */

        /* issue 12 §2: [Volume PATH] sections */
        VolumePolicy *volumes;
        size_t n_volumes;
} Config;

int config_parse_argv(Config *c, int argc, char **argv); /* 1: go on, 0: exit 0 (help), <0: usage error */
int config_load_file(Config *c);
int config_finish(Config *c); /* defaults for what is unset */
void config_done(Config *c);
int config_resolve_accounts(Config *c); /* RequesterGroup=, WriterUsers= to ids: at start-up only */
/* The configured owner of writer class @writer_id: true and *ret_uid, or false. */
bool config_writer_owner(const Config *c, const vss_id *writer_id, uid_t *ret_uid);
/* The [Volume PATH] section of @volume (compared as written and canonical), or NULL. */
const VolumePolicy *config_volume_policy(const Config *c, const char *volume);

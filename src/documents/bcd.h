/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The Backup Components Document (BCD), internal form.
 *
 * Plain data: the coordinator fills one from a session for SaveAsXml and
 * reads one back in InitializeForRestore; the XML is documented in
 * docs/documents.md. lvss_bcd_from_xml() validates everything and answers
 * -EBADMSG on malformed or hostile input (the caller maps it to
 * VSS_E_INVALID_XML_DOCUMENT). Strings are owned by the document; NULL and ""
 * mean the same for optional ones.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lvss/types.h>

typedef struct lvss_bcd_writer {
        vss_id instance_id;   /* at backup time */
        vss_id writer_id;     /* class id: what a restore matches on, with instance_name */
        char *writer_name;
        char *instance_name;  /* may be NULL */
        char *metadata_xml;   /* the writer's WMD at backup time (may be NULL) */
} lvss_bcd_writer;

typedef struct lvss_bcd_component {
        vss_id instance_id;
        vss_id writer_id;
        vss_component_type type;
        char *logical_path;   /* may be NULL */
        char *name;
        /* backup */
        bool backup_succeeded;
        char *backup_metadata;       /* set by the writer (PrepareForBackup, PostSnapshot) */
        char *backup_stamp;          /* set by the writer (PostSnapshot) */
        char *previous_backup_stamp; /* set by the requester (incremental backups) */
        /* restore */
        bool selected_for_restore;
        char *restore_metadata;
        vss_file_restore_status file_restore_status;
        char *pre_restore_failure_msg;
        char *post_restore_failure_msg;
} lvss_bcd_component;

typedef struct lvss_bcd {
        vss_id snapshot_set_id;      /* null when no set was made */
        int32_t context;             /* VSS_CTX_* */
        bool select_components;
        bool bootable_system_state;
        vss_backup_type backup_type;
        bool partial_file_support;
        vss_restore_type restore_type;
        lvss_bcd_writer *writers;
        size_t n_writers;
        lvss_bcd_component *components;
        size_t n_components;
} lvss_bcd;

/* A new, empty document (all zero). */
int lvss_bcd_new(lvss_bcd **ret);
/* Frees everything; NULL-safe; returns NULL. */
lvss_bcd *lvss_bcd_free(lvss_bcd *bcd);
/* Append a copy of @w / @c (strings duplicated); returns the new element through ret (may be NULL). */
int lvss_bcd_add_writer(lvss_bcd *bcd, const lvss_bcd_writer *w, lvss_bcd_writer **ret);
int lvss_bcd_add_component(lvss_bcd *bcd, const lvss_bcd_component *c, lvss_bcd_component **ret);
/* Set one owned string (NULL or "" clears). */
int lvss_bcd_set_string(char **dst, const char *value);
/* The XML; *ret owned (free()). -E2BIG past the size limit. */
int lvss_bcd_to_xml(const lvss_bcd *bcd, char **ret);
/* Parse and validate; -EBADMSG for anything malformed, -E2BIG for oversize input. */
int lvss_bcd_from_xml(const char *xml, lvss_bcd **ret);

static inline void lvss_bcd_freep(lvss_bcd **p) {
        lvss_bcd_free(*p);
}

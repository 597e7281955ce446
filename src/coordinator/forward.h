/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The names of lvssd's objects, without their insides: a header that only
 * passes pointers to them includes this, not the header that defines them
 * (issue 11 §3: each part shows what others may use, nothing more).
 */

typedef struct Manager Manager;
typedef struct Client Client;
typedef struct Writer Writer;
typedef struct Session Session;
typedef struct Entry Entry;
typedef struct Fanout Fanout;
typedef struct Target Target;
typedef struct Component Component;
typedef struct Snapshot Snapshot;
typedef struct SnapshotSet SnapshotSet;
typedef struct RegistryHooks RegistryHooks;

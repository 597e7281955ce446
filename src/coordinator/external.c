/* SPDX-License-Identifier: LGPL-2.1-or-later */

/*
 * External sessions (issue 10 part 2): lvss as the quiesce step of a snapshot
 * made elsewhere (a hypervisor, a cloud, a SAN), asked for by
 * lvss-freeze-hook.
 *
 * ExternalFreeze opens a backup session that lvssd owns: it outlives the
 * connection that asked for it. The session runs the usual steps
 * (GatherWriterMetadata, StartSnapshotSet with the `external` provider,
 * PrepareForBackup, DoSnapshotSet: PrepareForSnapshot, Freeze) and then,
 * where a provider would commit, holds: every writer stays frozen until
 * ExternalThaw (Thaw, PostSnapshot, BackupComplete, BackupShutdown),
 * ExternalAbort (Abort), the hold limit, or lvssd's stop. The hold limit is
 * the smaller of ExternalHoldLimitMS= and the caller's, and ends earlier
 * when a frozen writer's own freeze timeout (less the freeze margin) would
 * (WS-6). Past it lvssd thaws every writer (Abort) and keeps the session's
 * outcome for the thaw that comes later: it says "held past the hold limit".
 *
 * One external session at a time. The provider `external` (providers.c) makes nothing:
 * its set is recorded in the catalog (persistent, VSS_CTX_APP_ROLLBACK) and
 * deleting it forgets the record.
 *
 * Every answer has the same shape: (session id, hresult, message, the
 * writers' status). D-Bus errors are for refusals only.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/bounded.h"
#include "basic/state.h"
#include "basic/strv.h"
#include <lvss/metadata.h>
#include "manager.h"
#include "connection.h"
#include "session.h"
#include "snapshot.h"
#include "providers.h"
#include "external.h"

static const vss_id external_provider_id = EXTERNAL_PROVIDER_ID; /* providers.h */

#define HELD_OUT "held past the hold limit: thawed before thaw came"

/* ---- answers --------------------------------------------------------------- */

/* Why the external session ended, for its catalog row and the answers that come after. */
static void external_set_why(Session *s, const char *why) {
        free(s->external_why);
        s->external_why = strdup(why);
        if (!s->external_why)
                log_session(s, "out of memory: the session's record says why it ended in general terms (%s)", why);
}

static void external_step_finished(Session *s, StepKind step, vss_hresult hr);

/* Answer the call that waits, if its caller is still there (from a step, a timer or the set: the
 * edge flushes the caller's connection). */
static void answer(Session *s, vss_hresult hr, const char *message) {
        _cleanup_(pending_dropp) Pending *call = TAKE_PTR(s->external_call);
        Client *c = TAKE_PTR(s->external_caller);

        if (!call || !c || c->disconnected)
                return;
        if (pending_answer(&call, &(Answer) {
                    .kind = ANSWER_EXTERNAL,
                    .session = s,
                    .hr = hr,
                    .text = message,
                    .flush = true,
            }) < 0)
                log_session(s, "cannot answer %s", strempty(s->external_call_name));
}

/* Answers @call (taken) at once, in the caller's own dispatch: 1, the answer is given (a
 * packing that failed answered with its errno, answer.h). @s may be NULL: no session. */
static int answer_now(const Session *s, Pending *call, vss_hresult hr, const char *message) {
        (void) pending_answer(&call, &(Answer) { .kind = ANSWER_EXTERNAL, .session = s, .hr = hr, .text = message });
        return 1;
}

/* The answer of a freeze that failed, a thaw or an abort is sent once the session has ended
 * (BackupShutdown done, the catalog says how it ended): this notes it. */
static void answer_at_end(Session *s, vss_hresult hr, const char *message) {
        s->external_reported = true;
        s->external_answer_due = true;
        s->external_answer_hr = hr;
        s->external_answer_msg = message;
}

/* The answer of the call @name of @c (*@p, taken) comes later, from the session's steps. */
static void wait_answer(Session *s, Client *c, Pending **p, const char *name) {
        pending_drop(s->external_call);
        s->external_call = TAKE_PTR(*p);
        s->external_caller = c;
        s->external_call_name = name;
}

/* ---- the steps --------------------------------------------------------------- */

static void end_release(Session *s) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;

        if (session_method_release(s, NULL, &ref) < 0) {
                log_session(s, "cannot send BackupShutdown: %s", refusal_message(&ref) ?: "?");
                external_step_finished(s, STEP_RELEASE, VSS_E_UNEXPECTED);
        }
}

/* A step could not be started: the session ends (Abort is sent by the set's veto where it ran). */
static void fail_start(Session *s, const char *what, const Refusal *ref) {
        vss_hresult hr = VSS_E_UNEXPECTED;

        log_session(s, "external freeze: cannot start %s: %s", what, refusal_message(ref) ?: "?");
        if (!s->external_reported) {
                s->external_reported = true;
                answer(s, hr, refusal_message(ref) ?: what); /* now: the refusal's text does not outlive this call */
        }
        if (session_prepared(s)) {
                /* Abort to those that prepared: the teardown of a requester that is gone does it */
                s->external = false;
                session_requester_gone(s, "the external freeze could not go on");
                return;
        }
        end_release(s);
}

/* Every writer thaws now (Abort), for @why. */
static void thaw_now(Session *s, vss_hresult hr, const char *why) {
        external_set_why(s, why);
        snapshot_external_release(s, hr, why);
}

/* snapshot.c, through ExternalHooks.holding: every writer is frozen, the hold begins. */
static void external_holding(Session *s) {
        _cleanup_(freep) char *msg = NULL;
        uint64_t ms;

        s->external_holding = true;
        ms = s->external_hold_usec / USEC_PER_MSEC;
        log_session(s, "every writer is frozen: holding for %s for at most %llu ms", strempty(s->origin),
                    (unsigned long long) ms);
        if (asprintf(&msg, "every writer is frozen; lvssd holds them for at most %llu ms", (unsigned long long) ms) < 0)
                msg = NULL;
        s->external_reported = false;
        if (s->external_abort_wanted) {
                /* freezeFail came while the freeze was on its way: the freeze fails, every writer thaws */
                log_session(s, "freezeFail came during the freeze: thawing every writer");
                thaw_now(s, VSS_E_BAD_STATE, "aborted by freezeFail during the freeze");
                return;
        }
        if (!s->external_call) {
                /* The freeze's caller went away before its answer: it cannot know that the writers are
                 * frozen, so it will neither snapshot nor thaw. Nothing stays frozen for it. */
                log_session(s, "the freeze's caller went away before the answer: thawing every writer");
                s->external_reported = true;
                external_set_why(s, "the freeze's caller went away before the answer");
                snapshot_external_release(s, VSS_E_UNEXPECTED, "the freeze's caller went away");
                return;
        }
        if (s->m->stopping) {
                /* lvssd stops: the freeze fails (its answer says so), every writer thaws */
                log_session(s, "lvssd is stopping: the freeze fails, thawing every writer");
                thaw_now(s, VSS_E_WRITER_INFRASTRUCTURE, "lvssd is stopping");
                return;
        }
        answer(s, VSS_S_OK, msg ? msg : "every writer is frozen");
}

static void thaw_answer(Session *s, vss_hresult hr) {
        bool failed = VSS_FAILED(hr);

        for (size_t i = 0; i < s->n_entries && !failed; i++)
                failed = s->entries[i]->failure != VSS_S_OK || lvss_state_is_failed(s->entries[i]->state);
        answer_at_end(s, hr,
                      VSS_FAILED(hr) ? vss_hresult_text(hr) : failed ? "a writer failed" : "every writer is thawed");
}

static bool files_on(const vss_file_desc *f, unsigned n, char **volumes) {
        for (unsigned i = 0; i < n; i++) {
                _cleanup_(freep) char *canonical = f[i].path ? realpath(f[i].path, NULL) : NULL;
                const char *p = canonical ? canonical : f[i].path;
                for (char **v = volumes; p && v && *v; v++)
                        if (path_is_under(p, *v))
                                return true;
        }
        return false;
}

/*
 * --volume given: only the writers with a component whose files lie on one
 * of the volumes take part (component mode, those components added); the
 * others get no PrepareForSnapshot, Freeze, Thaw.
 */
static int select_by_volume(Session *s, Refusal *ref) {
        s->select_components = true;
        for (size_t i = 0; i < s->n_entries; i++) {
                Entry *e = s->entries[i];
                vss_examine_writer_metadata *md = NULL;
                unsigned n_inc, n_exc, n_comp;
                int r = 0;

                if (!e->metadata || VSS_FAILED(vss_examine_writer_metadata_load_xml(e->metadata, &md)))
                        continue;
                if (VSS_SUCCEEDED(vss_examine_writer_metadata_get_file_counts(md, &n_inc, &n_exc, &n_comp)))
                        for (unsigned k = 0; k < n_comp && r >= 0; k++) {
                                const vss_component_info *ci;
                                if (VSS_FAILED(vss_examine_writer_metadata_get_component(md, k, &ci)))
                                        continue;
                                if (!files_on(ci->files, ci->file_count, s->external_volumes) &&
                                    !files_on(ci->databases, ci->database_count, s->external_volumes) &&
                                    !files_on(ci->log_files, ci->log_file_count, s->external_volumes))
                                        continue;
                                r = session_method_add_component(s, &e->instance_id, &e->writer_id, ci->type,
                                                                 ci->logical_path, ci->component_name, ref);
                                if (r >= 0)
                                        log_session(s, "writer '%s' component '%s' is on a volume of the freeze",
                                                    e->writer_name, ci->component_name);
                        }
                vss_examine_writer_metadata_release(md);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* session.c, through ExternalHooks.step_finished: a step ended; the next one starts. */
static void external_step_finished(Session *s, StepKind step, vss_hresult hr) {
        _cleanup_(refusal_done) Refusal ref = REFUSAL_NULL;
        Manager *m = s->m;

        switch (step) {
        case STEP_GATHER_METADATA:
                if (s->external_volumes && select_by_volume(s, &ref) < 0)
                        return fail_start(s, "the writer selection by volume", &ref);
                if (session_method_prepare_for_backup(s, NULL, &ref) < 0)
                        return fail_start(s, "PrepareForBackup", &ref);
                return;

        case STEP_PREPARE_BACKUP:
                if (session_method_do_snapshot_set(s, NULL, &ref) < 0)
                        return fail_start(s, "DoSnapshotSet", &ref);
                return;

        case STEP_DO_SNAPSHOT_SET:
                s->external_holding = false;
                s->external_timer = sd_event_source_disable_unref(s->external_timer);
                if (VSS_SUCCEEDED(hr) && s->external_thaw_wanted) {
                        if (session_method_backup_complete(s, NULL, &ref) < 0) {
                                log_session(s, "cannot send BackupComplete: %s", refusal_message(&ref) ?: "?");
                                thaw_answer(s, VSS_E_UNEXPECTED);
                                return end_release(s);
                        }
                        return;
                }
                if (!s->external_reported && !s->external_thaw_wanted && !s->external_held_out &&
                    !s->external_call_is_abort) {
                        /* the freeze failed: a writer vetoed or timed out; Abort went to every writer */
                        answer_at_end(s, VSS_SUCCEEDED(hr) ? VSS_E_UNEXPECTED : hr,
                                      "the freeze failed; every writer was sent Abort and the session aborted");
                } else if (s->external_thaw_wanted)
                        thaw_answer(s, VSS_SUCCEEDED(hr) ? VSS_E_UNEXPECTED : hr);
                else if (s->external_call_is_abort)
                        answer_at_end(s, VSS_S_OK, "aborted: every writer was sent Abort");
                return end_release(s);

        case STEP_BACKUP_COMPLETE:
                thaw_answer(s, VSS_S_OK);
                return end_release(s);

        case STEP_RELEASE:
                if (m->external == s)
                        m->external = NULL;
                if (s->external_answer_due) {
                        s->external_answer_due = false;
                        answer(s, s->external_answer_hr, s->external_answer_msg);
                }
                if (s->external_held_out && !s->external_reported && !m->stopping) {
                        /* kept for the thaw that comes later */
                        Session *old = TAKE_PTR(m->external_done);
                        if (old)
                                session_free(old);
                        m->external_done = s;
                        return;
                }
                session_free(s);
                return;

        default:
                /* not used by external sessions; end it */
                if (!session_released(s))
                        return end_release(s);
                if (m->external == s)
                        m->external = NULL;
                session_free(s);
                return;
        }
}

/* ---- the methods ----------------------------------------------------------- */

static int on_hold_limit(sd_event_source *src, uint64_t usec, void *userdata) {
        Session *s = userdata;

        s->external_timer = sd_event_source_disable_unref(s->external_timer);
        if (!s->external_holding)
                return 0;
        log_session(s, "%s (%s): thawing every writer", HELD_OUT, strempty(s->origin));
        s->external_held_out = true;
        thaw_now(s, VSS_E_HOLD_WRITES_TIMEOUT, HELD_OUT);
        return 0;
}

/* snapshot.c asks for the timer through ExternalHooks.arm_hold: the effective limit, at @deadline_mono. */
static int external_arm_hold(Session *s, uint64_t deadline_mono) {
        s->external_timer = sd_event_source_disable_unref(s->external_timer);
        return sd_event_add_time(s->m->event, &s->external_timer, CLOCK_MONOTONIC, deadline_mono, 1, on_hold_limit,
                                 s);
}

/* issue 11 §2: what the session layer and the snapshot set call back (session.h) */
static const ExternalHooks external_hooks = {
        .step_finished = external_step_finished,
        .arm_hold = external_arm_hold,
        .holding = external_holding,
};

static int refuse_held(Manager *m, Refusal *ref) {
        Session *s = m->external;
        char id[VSS_ID_STRING_MAX];

        vss_id_format(&s->id, id);
        return refusal_set_hresult(ref, VSS_E_SNAPSHOT_SET_IN_PROGRESS, "a freeze is already held by %s (session %s, %s)",
                                   strempty(s->origin), id,
                                   s->external_holding ? "frozen, waiting for thaw" : "still freezing");
}

int external_freeze(Client *c, char **volumes, uint32_t hold_ms, const char *caller, Pending *call, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *waiting = call;
        _cleanup_(freep) char *shown = NULL;
        Manager *m;
        Session *s;
        vss_id id;
        int r;

        if (!c || !caller || !call)
                return -EINVAL;
        m = c->m;
        if (m->stopping)
                return refusal_set_hresult(ref, VSS_E_WRITER_INFRASTRUCTURE, "lvssd is stopping");
        if (m->external)
                return refuse_held(m, ref);
        if (m->set_owner) {
                const Session *o = m->set_owner;
                char oid[VSS_ID_STRING_MAX];
                vss_id_format(&o->id, oid);
                return refusal_set_hresult(ref, VSS_E_SNAPSHOT_SET_IN_PROGRESS,
                                           "another backup's snapshot set is in creation (session %s, uid %u "
                                           "pid %d): nothing was frozen; try again when it is done",
                                           oid, (unsigned) o->uid, (int) o->pid);
        }
        for (char **v = volumes; v && *v; v++) {
                _cleanup_(freep) char *canonical = NULL;
                if ((*v)[0] != '/')
                        return refusal_set_hresult(ref, VSS_E_INVALIDARG, "A volume is an absolute path");
                canonical = realpath(*v, NULL);
                if (!canonical) {
                        int e = errno;
                        shown = lvss_strdup_bounded(*v, LVSS_ECHO_MAX);
                        return refusal_set_hresult(ref, VSS_E_OBJECT_NOT_FOUND, "Volume %s: %s",
                                                   shown ? shown : "(too long to show)", strerror(e));
                }
        }

        r = session_new(m, c, NULL, &s, ref);
        if (r < 0)
                return r;
        /* From here on lvssd owns it; the caller only waits for the answer. */
        s->client = NULL;
        shown = lvss_strdup_bounded(*caller ? caller : "an unnamed caller", 128);
        if (!shown ||
            asprintf(&s->origin, "external: %s, pid %d, uid %u", shown, (int) c->pid, (unsigned) c->uid) < 0) {
                s->origin = NULL;
                session_requester_gone(s, "out of memory");
                return -ENOMEM;
        }
        s->external_hold_usec = m->cfg.external_hold_limit_usec;
        if (hold_ms > 0 && (uint64_t) hold_ms * USEC_PER_MSEC < s->external_hold_usec)
                s->external_hold_usec = (uint64_t) hold_ms * USEC_PER_MSEC;

        r = session_method_initialize(s, SESSION_BACKUP, NULL, ref);
        if (r >= 0)
                r = session_method_set_context(s, VSS_CTX_APP_ROLLBACK, ref);
        if (r >= 0)
                r = session_method_set_backup_state(s, false, false, VSS_BT_FULL, false, ref);
        if (r >= 0)
                r = session_method_start_snapshot_set(s, &id, ref);
        if (r >= 0 && (!volumes || !volumes[0]))
                r = session_method_add_to_snapshot_set(s, "/", &external_provider_id, &id, ref);
        for (char **v = volumes; r >= 0 && v && *v; v++)
                r = session_method_add_to_snapshot_set(s, *v, &external_provider_id, &id, ref);
        if (r >= 0 && volumes && volumes[0]) {
                /* the canonical paths, as the set has them */
                size_t n_snaps;
                Snapshot *const *snaps = snapshot_set_snapshots(s->set, &n_snaps);
                s->external_volumes = calloc(n_snaps + 1, sizeof(char *));
                for (size_t i = 0; s->external_volumes && i < n_snaps; i++)
                        if (!(s->external_volumes[i] = strdup(snaps[i]->p.volume)))
                                r = -ENOMEM;
                if (!s->external_volumes)
                        r = -ENOMEM;
        }
        if (r < 0) {
                session_requester_gone(s, "the external freeze could not start");
                return r;
        }
        s->external = true;
        s->external_hooks = &external_hooks;
        m->external = s;
        log_session(s, "external freeze for %s: hold limit %llu ms", s->origin,
                    (unsigned long long) (s->external_hold_usec / USEC_PER_MSEC));
        r = session_method_gather_metadata(s, NULL, ref);
        if (r < 0) {
                m->external = NULL;
                s->external = false;
                session_requester_gone(s, "the external freeze could not start");
                return r;
        }
        wait_answer(s, c, &waiting, "ExternalFreeze");
        return 1;
}

/* The outcome of the last external session, kept because lvssd ended it before thaw came: said once (as @hr),
 * then forgotten. */
static int answer_done(Manager *m, Pending *call, vss_hresult hr) {
        Session *d = TAKE_PTR(m->external_done);

        answer_now(d, call, hr, d->external_why ? d->external_why : HELD_OUT);
        session_free(d);
        return 1;
}

/* ExternalThaw (@thaw) or ExternalAbort when no freeze is held: the outcome of the last one, if
 * lvssd kept it (answer_done()); else a thaw is refused and an abort has nothing to do. */
static int no_freeze_held(Manager *m, Pending *call, bool thaw, Refusal *ref) {
        if (m->external_done)
                return answer_done(m, call, thaw ? VSS_E_HOLD_WRITES_TIMEOUT : VSS_S_OK);
        if (!thaw)
                return answer_now(NULL, call, VSS_S_OK, "no freeze is held: nothing to abort");
        pending_drop(call);
        return refusal_set_hresult(ref, VSS_E_BAD_STATE, "no freeze is held");
}

int external_thaw(Client *c, Pending *call, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *waiting = call;
        Session *s;

        if (!c || !call)
                return -EINVAL;
        s = c->m->external;
        if (!s)
                return no_freeze_held(c->m, TAKE_PTR(waiting), true, ref);
        if (!s->external_holding)
                return refusal_set_hresult(ref, VSS_E_BAD_STATE, "%s",
                                           s->external_thaw_wanted || s->external_call_is_abort
                                                   ? "the held freeze is being thawed already"
                                                   : "the freeze is still in progress: thaw after it answered");
        log_session(s, "thaw asked by uid %u pid %d", (unsigned) c->uid, (int) c->pid);
        s->external_thaw_wanted = true;
        wait_answer(s, c, &waiting, "ExternalThaw");
        snapshot_external_release(s, VSS_S_OK, NULL);
        return 1;
}

int external_abort(Client *c, Pending *call, Refusal *ref) {
        _cleanup_(pending_dropp) Pending *waiting = call;
        Session *s;

        if (!c || !call)
                return -EINVAL;
        s = c->m->external;
        if (!s)
                return no_freeze_held(c->m, TAKE_PTR(waiting), false, ref);
        if (!s->external_holding && (s->external_thaw_wanted || s->external_call_is_abort))
                return refusal_set_hresult(ref, VSS_E_BAD_STATE, "the held freeze is being thawed already");
        if (!s->external_holding) {
                /* The freeze is on its way (VMware calls freezeFail when its freeze timed out): it fails
                 * as soon as every writer has answered Freeze; its own caller is told so. */
                log_session(s, "freezeFail during the freeze, asked by uid %u pid %d", (unsigned) c->uid, (int) c->pid);
                s->external_abort_wanted = true;
                return answer_now(s, TAKE_PTR(waiting), VSS_S_OK,
                                  "the freeze on its way fails as soon as the writers have answered Freeze; every "
                                  "writer is thawed");
        }
        log_session(s, "freezeFail: abort asked by uid %u pid %d", (unsigned) c->uid, (int) c->pid);
        s->external_call_is_abort = true;
        wait_answer(s, c, &waiting, "ExternalAbort");
        snapshot_external_release(s, VSS_E_BAD_STATE, "aborted by freezeFail");
        return 1;
}

void external_client_gone(Client *c) {
        for (Session *s = c->m->sessions; s; s = s->next)
                if (s->external && s->external_caller == c) {
                        s->external_caller = NULL;
                        s->external_call = pending_drop(s->external_call);
                }
}

void external_stop(Manager *m) {
        Session *d = TAKE_PTR(m->external_done);

        if (d)
                session_free(d);
        if (m->external && m->external->external_holding) {
                Session *s = m->external;
                log_session(s, "lvssd is stopping: thawing every writer of the held freeze");
                s->external_held_out = true;
                external_set_why(s, "lvssd is stopping: thawed before thaw came");
                snapshot_external_release(s, VSS_E_WRITER_INFRASTRUCTURE, "lvssd is stopping");
        }
        /* still freezing: external_holding() releases it as soon as it holds */
}

/* store.h - the spool: beredd's only durable state.
 *
 * Layout under the spool root (DESIGN.md):
 *   incoming/     drop folder; files are renamed in, processed, then removed
 *   activations/  one append-only JSON Lines log per activation: <id>.log
 *   cases/ab/     one JSON file per follow-up case, 256 hashed subfolders
 *   cases/journal.<n>  changes to cases not yet in their files (case-store.c)
 *   cases/index   the case index of the last clean stop, a cache (case-store.c)
 *   failed/       rejected input, each with <name>.reason
 *   outbox/       messages written by the file gateway
 *   tmp/          temporary files (same file system), never data
 *   rosters/      duty swaps (beredctl roster override): overrides.json
 *   absences/     people's absences (beredctl away, SMS BORTE): <id>.json each
 *   surveys/      absence surveys before heightened periods: <id>.json each
 *
 * Every whole-file write is: create in tmp/ with O_EXCL, write, fsync, rename
 * into place, fsync the folder (a new activation log: store_append_deferred). Folders are 0750, files 0640. Nothing is ever
 * deleted except by an explicit rule (processed incoming files, stale tmp/
 * files at open, purge of closed cases after retention, and the retention
 * sweep of ended activations, outbox/ and failed/, and of ended absences: retention.h).
 *
 * Functions return 0 (or a non-negative value) on success and -errno on
 * failure; they do not log. -ENOSPC and -EDQUOT are temporary: the caller
 * refuses new input and keeps what it has.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

enum store_dir {
        STORE_INCOMING,
        STORE_ACTIVATIONS,
        STORE_CASES,
        STORE_FAILED,
        STORE_OUTBOX,
        STORE_TMP,
        STORE_ROSTERS,
        STORE_ABSENCES,
        STORE_SURVEYS,
        _STORE_DIR_MAX,
};
const char *store_dir_name(enum store_dir d);

struct store;

/* Open the spool at ROOT: create ROOT and every folder (0750) if missing,
 * and remove stale files from tmp/ (they are incomplete writes, never data;
 * the count removed is returned in *RET_STALE when not NULL). A spare that
 * holds data is kept: a log of store_append_deferred() whose rename a crash
 * lost, for store_recover_spares(). Takes an exclusive lock on ROOT:
 * -EBUSY when another process has the spool open. */
int store_open(const char *root, struct store **ret, unsigned *ret_stale);
void store_free(struct store *s);

const char *store_root(const struct store *s);
/* An O_DIRECTORY fd for folder D, owned by the store. */
int store_dirfd(const struct store *s, enum store_dir d);

/* Create an empty file in tmp/ and fsync it and tmp/, for the next log that
 * store_append_deferred() creates (a no-op while one is ready): that log
 * then costs one fdatasync, no inode allocation and no folder sync. Does
 * store_sync_pending()'s work too, with the same sync of tmp/. Call it
 * when the loop is idle. 0 or -errno. */
int store_prepare_spare(struct store *s);
bool store_has_spare(const struct store *s);

/* store_append for a log created on a trigger's path. When DIR/NAME does
 * not exist and a spare is ready, DATA goes into the spare, one fdatasync,
 * and the spare is renamed to DIR/NAME without a folder sync: the record is
 * durable when this returns (a crash leaves the log under its name or under
 * the spare's in tmp/, which store_recover_spares() puts in place), the
 * name is made durable by store_sync_pending(). Otherwise as store_append.
 * Returns 0 or -errno. */
int store_append_deferred(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len);
/* fsync every folder store_append_deferred() renamed a log into, then tmp/.
 * Call it when the loop is idle; store_sync_dir() of such a folder and
 * store_free() do it too. 0 or -errno (then still pending). */
int store_sync_pending(struct store *s);
bool store_has_pending(const struct store *s);
/* For the torture only ($BEREDD_TEST_SPARE_PAUSE_MS): sleep USEC between a
 * spare's fdatasync and its rename, so that kills land in crash point 2. */
void store_set_spare_pause(struct store *s, uint64_t usec);

/* Gives the name in its folder of the log whose text begins DATA[0..LEN)
 * in NAME (SIZE bytes); -EINVAL when DATA is not the start of such a log
 * (e.g. a torn first line). */
typedef int (*store_spare_name_fn)(const char *data, size_t len, char *name, size_t size);
/* After store_open(), before DIR is read: every spare in tmp/ with data is
 * renamed to DIR/<the name NAME_OF gives it>, or removed when NAME_OF
 * refuses it; a spare whose name another file holds already goes to failed/
 * (a spare that is a second link to that file is removed). DIR and tmp/
 * are synced after. The counts moved into DIR and removed or moved to
 * failed/ in *RET_RECOVERED and *RET_DROPPED (may be NULL). 0 or -errno. */
int store_recover_spares(struct store *s, enum store_dir dir, store_spare_name_fn name_of, unsigned *ret_recovered,
                         unsigned *ret_dropped);

/* Atomically and durably replace DIR/NAME with DATA: tmp/ + O_EXCL, write,
 * fsync, renameat, fsync DIR. NAME must be a plain file name (no '/').
 * Returns 0 or -errno. */
int store_write_atomic(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len);

/* Like store_write_atomic, but fail with -EEXIST if DIR/NAME exists
 * (linkat/renameat2 RENAME_NOREPLACE). */
int store_create_atomic(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len);

/* Read DIR/NAME whole into a NUL-terminated buffer of at most MAX bytes
 * (-EFBIG if larger). Caller frees *RET. */
int store_read(const struct store *s, enum store_dir dir, const char *name, size_t max, char **ret, size_t *ret_len);

/* Two lowercase hex digits naming the case folder of REF ("ab"), from a
 * stable hash of REF. BUF must hold 3 bytes. */
void store_case_bucket(const char *ref, char buf[static 3]);
/* "ab/REF.json" relative to cases/; creates the bucket folder if missing.
 * Returns 0 or -errno (-ENAMETOOLONG). */
int store_case_relpath(struct store *s, const char *ref, char *buf, size_t len);
/* The same "ab/REF.json" without making the folder: to read or remove a
 * case. Returns 0 or -EINVAL, -ENAMETOOLONG. */
int store_case_name(const char *ref, char *buf, size_t len);

/* The status of DIR/NAME itself (a symlink is not followed), as fstatat(2).
 * Returns 0 or -errno (-ENOENT: there is none). */
int store_stat(const struct store *s, enum store_dir dir, const char *name, struct stat *ret);

/* Reading a folder of many files (the case buckets at start: a million
 * files, so no fstat and one buffer for all). store_folder_open() opens
 * folder DIR, or its subfolder SUB (a plain name, not followed if a symlink;
 * NULL: DIR itself); store_folder_next() gives the next entry's name,
 * skipping names that start with '.' (NULL at the end; valid until the next
 * call); store_folder_read() reads file NAME of the folder whole into *BUF,
 * which it grows (from 64 KiB, doubling) and the caller keeps for the next
 * file: a short read is taken as the end of the file (O_NONBLOCK: a FIFO
 * does not block; a folder fails the read). *BUF is not NUL-terminated.
 * -EFBIG when the buffer would have to grow beyond MAX + 2 bytes, -ENOMEM
 * when it cannot grow, any other -errno for the file itself. */
struct store_folder;
int store_folder_open(const struct store *s, enum store_dir dir, const char *sub, struct store_folder **ret);
const char *store_folder_next(struct store_folder *f);
int store_folder_read(const struct store_folder *f, const char *name, size_t max, char **buf, size_t *cap,
                      size_t *ret_len);
void store_folder_close(struct store_folder *f);

/* Where a function takes a NAME in STORE_CASES, the "ab/REF.json" form made
 * by store_case_relpath() is accepted as well (the bucket must exist). */

/* Append DATA to DIR/NAME and fdatasync it: the write-ahead log primitive for
 * activations/<id>.log. A missing file is created whole as with
 * store_create_atomic. A failed write is truncated away again; should a crash
 * still leave a torn record, readers drop a last line without '\n'.
 * Returns 0 or -errno. */
int store_append(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len);

/* Remove DIR/NAME and fsync DIR (e.g. purge of a closed case). Returns 0 or -errno. */
int store_remove(struct store *s, enum store_dir dir, const char *name);
/* Many removals at once (the retention sweep): store_unlink() removes
 * DIR/NAME (a plain name) without a sync, one store_sync_dir() makes all
 * of them durable (and store_sync_pending()'s work first, if DIR has a
 * log renamed in and not yet synced). Returns 0 or -errno. */
int store_unlink(struct store *s, enum store_dir dir, const char *name);
int store_sync_dir(struct store *s, enum store_dir dir);

/* Move incoming/NAME to failed/NAME (failed/NAME.1, .2 ... if taken) and
 * write failed/<that name>.reason containing REASON and a newline, both
 * durably. Returns 0 or -errno. */
int store_reject(struct store *s, const char *name, const char *reason);

/* Remove incoming/NAME once processed, and fsync incoming/. */
int store_consume(struct store *s, const char *name);

/* The regular files in incoming/ in arrival order (ctime, then name),
 * skipping names that start with '.' (temporary names of writers).
 * Caller frees with store_names_free. */
int store_list_incoming(const struct store *s, char ***ret, size_t *ret_n);
void store_names_free(char **v, size_t n);

/* Free bytes available to beredd on the spool's file system, or -errno. */
int64_t store_free_bytes(const struct store *s);

/* Group commit, for many whole-file replacements at once (a burst of
 * follow-up reminders): store_stage() writes each new content to tmp/ without
 * a sync, one store_sync() makes them all durable, store_publish() renames
 * each into place, and a second store_sync() makes the renames durable. Only
 * then may their effects leave the process. A crash anywhere leaves every
 * target either old or new, never torn; staged files left in tmp/ are
 * removed by the next store_open(). store_unstage() drops a staged file. */
#define STORE_TMP_NAME_SIZE 64
int store_stage(struct store *s, const void *data, size_t len, char name[static STORE_TMP_NAME_SIZE]);
void store_unstage(struct store *s, const char *tmpname);
int store_sync(struct store *s);
/* Rename staged TMPNAME to DIR/NAME (replacing it), without a sync. */
int store_publish(struct store *s, const char *tmpname, enum store_dir dir, const char *name);

/* store.c - the spool: durable whole-file writes, the drop folder, case buckets
 * and reading folders of many files.
 *
 * Every write follows the mail-server discipline (OpenSMTPD queue_fs.c,
 * Postfix mail_stream.c): create a fresh file in tmp/ with O_EXCL, write it
 * all, fsync it, rename it into place, fsync the folder it landed in. A crash
 * at any point leaves either the old file or the new one, never a mix; what is
 * left behind in tmp/ is at worst an incomplete write (or a second link to a
 * file already in place), and store_open() removes it. The one exception is
 * a new activation log (store_append_deferred): one fdatasync into a spare
 * made beforehand, the rename's folders synced later; a written spare left
 * in tmp/ is data, and store_recover_spares() puts it in place (the crash
 * points are listed at spare_publish).
 *
 * Nothing here logs and nothing keeps global state: the store is one struct
 * of open folder fds, used from the single event-loop thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "store.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Modes are applied with fchmod() after creation, so they do not depend on
 * the umask the daemon was started with (systemd's UMask=, a shell's 077). */
#define DIR_MODE 0750
#define FILE_MODE 0640

/* "<pid>.<counter>.<64 random bits in hex>" with room to spare. */
#define TMP_NAME_SIZE STORE_TMP_NAME_SIZE
/* A tmp name collides only with a leftover carrying the same pid, counter
 * and random bits; a few retries are plenty. */
#define TMP_ATTEMPTS 16
/* store_reject() tries NAME, NAME.1 ... NAME.REJECT_MAX. */
#define REJECT_MAX 1000
#define REASON_SUFFIX ".reason"

struct store {
        char *root;
        int root_fd;
        int fds[_STORE_DIR_MAX];
        uint64_t tmp_counter;
        /* An empty file in tmp/, created and fsynced ahead of need
         * (store_prepare_spare): a durable write takes it instead of
         * creating its file then, so allocating an inode and syncing its
         * creation is not on the path of a trigger. -1 when none. */
        int spare_fd;
        char spare_name[STORE_TMP_NAME_SIZE];
        /* Folders a log was renamed into by store_append_deferred() whose
         * new name, and the removal of its tmp/ name, are not synced yet
         * (store_sync_pending). */
        bool unsynced[_STORE_DIR_MAX];
        uint64_t spare_pause_usec; /* store_set_spare_pause: tests only */
};

/* A spare's name in tmp/: "spare.<pid>.<counter>.<random>". store_open()
 * keeps a spare with data (a log written by store_append_deferred() whose
 * rename was lost in a crash) for store_recover_spares(). */
#define SPARE_PREFIX "spare."

static const char *const dir_names[_STORE_DIR_MAX] = {
        [STORE_INCOMING] = "incoming",
        [STORE_ACTIVATIONS] = "activations",
        [STORE_CASES] = "cases",
        [STORE_FAILED] = "failed",
        [STORE_OUTBOX] = "outbox",
        [STORE_TMP] = "tmp",
        [STORE_ROSTERS] = "rosters",
        [STORE_ABSENCES] = "absences",
        [STORE_SURVEYS] = "surveys",
};

const char *store_dir_name(enum store_dir d) {
        if ((unsigned) d >= _STORE_DIR_MAX)
                return NULL;
        return dir_names[d];
}

static void closedirp(DIR **d) {
        if (*d) {
                int saved = errno;
                closedir(*d);
                errno = saved;
        }
}

static void store_freep(struct store **s) {
        store_free(*s);
}

/* A plain name is one directory entry: it can never climb out of its folder. */
static bool name_is_plain(const char *name) {
        return name && name[0] != '\0' && !streq(name, ".") && !streq(name, "..") && !strchr(name, '/');
}

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Map (D, NAME) to a folder fd and an entry name in it. NAME is plain, except
 * in cases/ where it may also be the "ab/REF.json" form that
 * store_case_relpath() hands out; then the bucket is opened and returned in
 * *RET_OWNED as well, for the caller to close. tmp/ is allowed (the daemon
 * probes a full spool with a write there), but whatever lands in tmp/ is
 * deleted by the next store_open(): it is never a place for data. */
static int target_resolve(const struct store *s, enum store_dir d, const char *name, int *ret_dfd, int *ret_owned,
                          const char **ret_base) {
        if (!s || !name || (unsigned) d >= _STORE_DIR_MAX)
                return -EINVAL;

        if (d == STORE_CASES && is_lower_hex(name[0]) && is_lower_hex(name[1]) && name[2] == '/') {
                const char bucket[3] = { name[0], name[1], '\0' };
                int fd;

                if (!name_is_plain(name + 3))
                        return -EINVAL;
                fd = openat(s->fds[STORE_CASES], bucket, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return negative_errno();
                *ret_dfd = *ret_owned = fd;
                *ret_base = name + 3;
                return 0;
        }

        if (!name_is_plain(name))
                return -EINVAL;
        *ret_dfd = s->fds[d];
        *ret_owned = -1;
        *ret_base = name;
        return 0;
}

/* A listing of folder NAME under DFD ("." for DFD itself; FLAGS added to the
 * open) on a fresh open file description: fdopendir() on a dup() would
 * share (and move) the offset of the fd the store keeps. */
static int opendir_at(int dfd, const char *name, int flags, DIR **ret) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
        if (fd < 0)
                return negative_errno();
        *ret = fdopendir(fd);
        if (!*ret) {
                int r = negative_errno();
                close(fd);
                return r;
        }
        return 0;
}

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t k = write(fd, p, len);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                p += k;
                len -= (size_t) k;
        }
        return 0;
}

/* Create folder NAME under PARENT if missing and open it. A folder we create
 * gets its exact mode and is made durable by an fsync of PARENT; an existing
 * one keeps the mode the administrator (or tmpfiles.d) gave it. */
static int mkdirat_open(int parent, const char *name, int *ret_fd) {
        _cleanup_close_ int fd = -1;
        bool created = false;
        int mkdir_r = 0;

        if (mkdirat(parent, name, DIR_MODE) >= 0)
                created = true;
        else if (errno != EEXIST)
                /* Not fatal yet: on a read-only or foreign parent mkdir() can
                 * fail with EROFS/EACCES although the folder is there. */
                mkdir_r = negative_errno();

        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return mkdir_r < 0 ? mkdir_r : negative_errno();

        if (created) {
                if (fchmod(fd, DIR_MODE) < 0)
                        return negative_errno();
                if (fsync(parent) < 0)
                        return negative_errno();
        }

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* mkdir -p PATH, one component at a time through directory fds, and return
 * an fd for PATH itself. */
static int mkdir_p_open(const char *path, int *ret_fd) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -1;
        char *save = NULL;

        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
                *ret_fd = TAKE_FD(fd);
                return 0;
        }
        if (errno != ENOENT)
                return negative_errno();

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        fd = open(path[0] == '/' ? "/" : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();

        for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
                int next, r;

                r = mkdirat_open(fd, c, &next);
                if (r < 0)
                        return r;
                close(fd);
                fd = next;
        }

        *ret_fd = TAKE_FD(fd);
        return 0;
}

static bool is_written_spare(const char *name, const struct stat *st) {
        return strncmp(name, SPARE_PREFIX, strlen(SPARE_PREFIX)) == 0 && S_ISREG(st->st_mode) && st->st_size > 0;
}

/* Remove everything but folders and written spares from tmp/. Each entry is an interrupted
 * write, or (after a crash between linkat() and unlinkat() in the
 * RENAME_NOREPLACE fallback) a second link to a file already in place:
 * unlinking is safe either way. The removals are not fsynced: a file that
 * comes back after another crash is simply removed again. */
/* The next entry of tmp/ (D) but "." and "..", with its lstat in *ST and
 * its name in *NAME: 1, or 0 at the end, or -errno. An entry gone
 * meanwhile is skipped. */
static int tmp_next(DIR *d, struct stat *st, const char **name) {
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de)
                        return errno != 0 ? negative_errno() : 0;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return negative_errno();
                }
                *name = de->d_name;
                return 1;
        }
}

static int clean_tmp(struct store *s, unsigned *ret_count) {
        _cleanup_(closedirp) DIR *d = NULL;
        unsigned count = 0;
        struct stat st;
        const char *name;
        int r;

        r = opendir_at(s->fds[STORE_TMP], ".", 0, &d);
        if (r < 0)
                return r;

        while ((r = tmp_next(d, &st, &name)) > 0) {
                if (S_ISDIR(st.st_mode))
                        continue; /* never ours; leave it to whoever made it */
                if (is_written_spare(name, &st))
                        continue; /* a log: store_recover_spares() */
                if (unlinkat(dirfd(d), name, 0) < 0) {
                        if (errno == ENOENT)
                                continue;
                        return negative_errno();
                }
                count++;
        }
        if (r < 0)
                return r;

        *ret_count = count;
        return 0;
}

int store_open(const char *root, struct store **ret, unsigned *ret_stale) {
        _cleanup_(store_freep) struct store *s = NULL;
        struct stat tmp_st;
        unsigned stale = 0;
        int r;

        if (!root || root[0] == '\0' || !ret)
                return -EINVAL;

        s = malloc(sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (struct store) { .root_fd = -1, .spare_fd = -1 };
        for (size_t i = 0; i < ELEMENTSOF(s->fds); i++)
                s->fds[i] = -1;

        s->root = strdup(root);
        if (!s->root)
                return -ENOMEM;

        r = mkdir_p_open(root, &s->root_fd);
        if (r < 0)
                return r;

        /* One daemon per spool: a second one would delete the first one's
         * in-flight tmp/ files below and process the same input twice. The
         * lock lives as long as root_fd, i.e. until store_free(). */
        if (flock(s->root_fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : negative_errno();

        /* mkdirat_open() fsyncs the root after each folder it creates. */
        for (enum store_dir d = 0; d < _STORE_DIR_MAX; d++) {
                r = mkdirat_open(s->root_fd, dir_names[d], &s->fds[d]);
                if (r < 0)
                        return r;
        }

        /* rename() cannot cross file systems: a folder mounted or symlinked
         * elsewhere would make every write into it fail with EXDEV at run
         * time. Refuse it now, while the operator is watching. */
        if (fstat(s->fds[STORE_TMP], &tmp_st) < 0)
                return negative_errno();
        for (enum store_dir d = 0; d < _STORE_DIR_MAX; d++) {
                struct stat st;

                if (fstat(s->fds[d], &st) < 0)
                        return negative_errno();
                if (st.st_dev != tmp_st.st_dev)
                        return -EXDEV;
        }

        r = clean_tmp(s, &stale);
        if (r < 0)
                return r;

        if (ret_stale)
                *ret_stale = stale;
        *ret = TAKE_PTR(s);
        return 0;
}

void store_free(struct store *s) {
        if (!s)
                return;
        /* A clean stop leaves every log under its own name. */
        (void) store_sync_pending(s);
        if (s->spare_fd >= 0) {
                (void) unlinkat(s->fds[STORE_TMP], s->spare_name, 0);
                close(s->spare_fd);
        }
        for (size_t i = ELEMENTSOF(s->fds); i > 0; i--)
                if (s->fds[i - 1] >= 0)
                        close(s->fds[i - 1]);
        if (s->root_fd >= 0)
                close(s->root_fd);
        free(s->root);
        free(s);
}

const char *store_root(const struct store *s) {
        return s ? s->root : NULL;
}

int store_dirfd(const struct store *s, enum store_dir d) {
        if (!s || (unsigned) d >= _STORE_DIR_MAX)
                return -EINVAL;
        return s->fds[d];
}

static uint64_t tmp_random(void) {
        uint64_t v;

        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t) sizeof(v))
                return v;

        /* Early boot without an initialised pool: uniqueness comes from pid +
         * counter and O_EXCL anyway; this only spreads retries. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

/* Write DATA to a new file in tmp/, fsync and close it; its name is returned
 * in NAME. On failure nothing is left in tmp/. */
static int tmp_write_sync(struct store *s, const void *data, size_t len, char name[static TMP_NAME_SIZE], bool sync);

static int tmp_write(struct store *s, const void *data, size_t len, char name[static TMP_NAME_SIZE]) {
        return tmp_write_sync(s, data, len, name, true);
}

/* A new empty file in tmp/ with its mode set; its name (PREFIX, then
 * "<pid>.<counter>.<random>") in NAME. */
static int tmp_create(struct store *s, const char *prefix, char name[static TMP_NAME_SIZE]) {
        const int tfd = s->fds[STORE_TMP];
        _cleanup_close_ int fd = -1;

        for (unsigned i = 0; i < TMP_ATTEMPTS && fd < 0; i++) {
                snprintf(name, TMP_NAME_SIZE, "%s%ld.%" PRIu64 ".%016" PRIx64, prefix, (long) getpid(),
                         ++s->tmp_counter, tmp_random());
                fd = openat(tfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, FILE_MODE);
                if (fd < 0 && errno != EEXIST)
                        return negative_errno();
        }
        if (fd < 0)
                return -EEXIST;
        if (fchmod(fd, FILE_MODE) < 0) {
                int r = negative_errno();
                (void) unlinkat(tfd, name, 0);
                return r;
        }
        return TAKE_FD(fd);
}

/* fsync each folder store_append_deferred() renamed a log into, before
 * tmp/ is synced: tmp/ first, and a crash between the two could leave the
 * log under neither name. *RET_ANY: there was one. 0 or -1 (errno set). */
static int sync_targets(struct store *s, bool *ret_any) {
        for (enum store_dir d = 0; d < _STORE_DIR_MAX; d++)
                if (s->unsynced[d]) {
                        if (fsync(s->fds[d]) < 0)
                                return -1;
                        *ret_any = true;
                }
        return 0;
}

int store_prepare_spare(struct store *s) {
        if (!s)
                return -EINVAL;
        if (s->spare_fd >= 0)
                return store_sync_pending(s);
        int fd = tmp_create(s, SPARE_PREFIX, s->spare_name);
        if (fd < 0)
                return fd;
        /* Its creation on disk now, inode and name in tmp/, so the write
         * that takes it syncs only its own data, and a crash after that
         * sync finds it in tmp/ (store_append_deferred). The one sync of
         * tmp/ serves store_sync_pending() too, its targets synced first. */
        bool any = false;
        if (fsync(fd) < 0 || sync_targets(s, &any) < 0 || fsync(s->fds[STORE_TMP]) < 0) {
                int r = negative_errno();
                (void) unlinkat(s->fds[STORE_TMP], s->spare_name, 0);
                close(fd);
                return r;
        }
        memset(s->unsynced, 0, sizeof(s->unsynced));
        s->spare_fd = fd;
        return 0;
}

bool store_has_spare(const struct store *s) {
        return s && s->spare_fd >= 0;
}

static int tmp_write_sync(struct store *s, const void *data, size_t len, char name[static TMP_NAME_SIZE], bool sync) {
        const int tfd = s->fds[STORE_TMP];
        _cleanup_close_ int fd = -1;
        int r;

        /* Never the spare: store_open() keeps a spare with data as a log to
         * recover, so only store_append_deferred() writes one. */
        fd = tmp_create(s, "", name);
        if (fd < 0)
                return fd;

        r = write_all(fd, data, len);
        /* fsync is where delayed allocation reports ENOSPC/EDQUOT and where
         * I/O errors surface; the rename must never publish a file whose data
         * is not on disk. */
        if (r >= 0 && sync && fsync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && close(TAKE_FD(fd)) < 0 && errno != EINTR)
                /* Linux closes the fd even on EINTR, and the data is already
                 * synced; other errors (NFS) mean it may not be. */
                r = negative_errno();

        if (r < 0) {
                (void) unlinkat(tfd, name, 0);
                return r;
        }
        return 0;
}

/* renameat2(RENAME_NOREPLACE), or linkat()+unlinkat() where the file system
 * or kernel lacks it: a link refuses an existing target just the same. A crash
 * between the two leaves one inode under both names, never a loss. If the
 * link was made but the old name could not be removed, the move counts as
 * done and the unlink error is returned in *RET_LEFTOVER. */
static int rename_noreplace(int olddfd, const char *oldname, int newdfd, const char *newname, int *ret_leftover) {
        *ret_leftover = 0;

        if (renameat2(olddfd, oldname, newdfd, newname, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return negative_errno();

        if (linkat(olddfd, oldname, newdfd, newname, 0) < 0)
                return negative_errno();
        if (unlinkat(olddfd, oldname, 0) < 0)
                *ret_leftover = negative_errno();
        return 0;
}

static int write_into(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len,
                      bool replace) {
        _cleanup_close_ int owned = -1;
        char tmp[TMP_NAME_SIZE];
        const char *base;
        int dfd, r;

        if (!s || (!data && len > 0))
                return -EINVAL;

        r = target_resolve(s, dir, name, &dfd, &owned, &base);
        if (r < 0)
                return r;

        r = tmp_write(s, data, len, tmp);
        if (r < 0)
                return r;

        if (replace) {
                if (renameat(s->fds[STORE_TMP], tmp, dfd, base) < 0)
                        r = negative_errno();
        } else {
                int leftover;
                /* A tmp/ name left over is harmless: store_open() removes it. */
                r = rename_noreplace(s->fds[STORE_TMP], tmp, dfd, base, &leftover);
        }
        if (r < 0) {
                (void) unlinkat(s->fds[STORE_TMP], tmp, 0);
                return r;
        }

        /* Until the folder is synced the new name may vanish in a crash, and
         * the caller must not act as if the data were kept. */
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}

int store_write_atomic(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len) {
        return write_into(s, dir, name, data, len, true);
}

int store_create_atomic(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len) {
        return write_into(s, dir, name, data, len, false);
}

/* The first record of a log on a trigger's path, with one sync: DATA into
 * the spare (its inode and its name in tmp/ synced by store_prepare_spare),
 * fdatasync, then renamed to DFD/BASE without syncing either folder; they
 * are synced by store_sync_pending() when the loop is idle. The caller acts
 * on the record (sends) as soon as this returns. Every crash point:
 *
 *  1. before or during the write, or during the fdatasync: nothing has been
 *     acted on. After the crash the spare is empty (removed at open), holds
 *     a torn first line (the name callback of store_recover_spares refuses
 *     it: removed), or holds the whole record (the kernel wrote it before
 *     the crash): then the log is recovered and the activation runs though
 *     its trigger was never answered, as when a crash fell between a rename
 *     and its folder's sync before (at least once, never lost).
 *  2. after the fdatasync, before the rename: the record is on disk in an
 *     inode whose name in tmp/ is durable (synced when it was made); open
 *     keeps it, store_recover_spares() renames it into place.
 *  3. after the rename, before store_sync_pending: a power loss leaves the
 *     rename done or not (rename is atomic in the journal of ext4, XFS and
 *     btrfs): the log under its own name, or the spare in tmp/ as in 2.
 *     A process crash (kill -9) loses nothing of the rename. Records
 *     appended later go to the same inode, whichever name it has.
 *  4. during store_sync_pending: the target folder is synced before tmp/,
 *     so the worst case is both names for one inode (the target durable,
 *     the tmp/ removal not); store_recover_spares() sees the same inode
 *     under the target name and removes the tmp/ one.
 *  5. a failed write, sync or rename: the spare is emptied and removed and
 *     tmp/ synced, so a refused log does not come back after a crash.
 *
 * Returns 0, -EEXIST when DFD/BASE appeared meanwhile (the spare is gone;
 * append as usual), or -errno. */
static int spare_publish(struct store *s, enum store_dir dir, int dfd, const char *base, const void *data,
                         size_t len) {
        const int tfd = s->fds[STORE_TMP];
        _cleanup_close_ int fd = TAKE_FD(s->spare_fd);
        char tmp[TMP_NAME_SIZE];
        int leftover = 0, r;

        memcpy(tmp, s->spare_name, TMP_NAME_SIZE);
        r = write_all(fd, data, len);
        /* fdatasync writes the size and the blocks with the data: all a
         * reader needs. The creation was synced with the spare. */
        if (r >= 0 && fdatasync(fd) < 0)
                r = negative_errno();
        if (r >= 0 && s->spare_pause_usec > 0) {
                struct timespec ts = { .tv_sec = (time_t) (s->spare_pause_usec / 1000000),
                                       .tv_nsec = (long) (s->spare_pause_usec % 1000000) * 1000 };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
                }
        }
        if (r >= 0)
                r = rename_noreplace(tfd, tmp, dfd, base, &leftover);
        if (r >= 0) {
                /* A second name left in tmp/ by the link fallback is the
                 * same inode: store_recover_spares() removes it. */
                s->unsynced[dir] = true;
                return 0;
        }
        if (ftruncate(fd, 0) < 0) {
                /* removed below all the same */
        }
        (void) unlinkat(tfd, tmp, 0);
        (void) fsync(tfd);
        return r;
}

static int append_to(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len,
                     bool deferred) {
        _cleanup_close_ int owned = -1, fd = -1;
        const char *base;
        struct stat st;
        int dfd, r;

        if (!s || (!data && len > 0))
                return -EINVAL;

        r = target_resolve(s, dir, name, &dfd, &owned, &base);
        if (r < 0)
                return r;

        /* O_NONBLOCK: a FIFO planted under a data name must not hang the loop. */
        fd = openat(dfd, base, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0) {
                if (errno != ENOENT)
                        return negative_errno();
                /* The first record creates the file whole, so a log never
                 * exists half-created. */
                if (deferred && s->spare_fd >= 0)
                        r = spare_publish(s, dir, dfd, base, data, len);
                else
                        r = write_into(s, dir, name, data, len, false);
                if (r != -EEXIST)
                        return r;
                fd = openat(dfd, base, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
                if (fd < 0)
                        return negative_errno();
        }

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        r = write_all(fd, data, len);
        if (r < 0) {
                /* Cut the torn record off, so the log still ends on a record
                 * boundary (ENOSPC half-way is the usual case). Should this
                 * fail too, readers must drop a last line without '\n'. */
                if (ftruncate(fd, st.st_size) < 0) {
                        /* nothing more to do: the reader's rule above holds */
                }
                return r;
        }

        /* After a failed fdatasync the page cache no longer tells what is on
         * disk; the caller must not treat the record as written. */
        if (fdatasync(fd) < 0)
                return negative_errno();
        return 0;
}

int store_append(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len) {
        return append_to(s, dir, name, data, len, false);
}

int store_append_deferred(struct store *s, enum store_dir dir, const char *name, const void *data, size_t len) {
        return append_to(s, dir, name, data, len, true);
}

int store_sync_pending(struct store *s) {
        bool any = false;

        if (!s)
                return -EINVAL;
        if (sync_targets(s, &any) < 0)
                return negative_errno();
        if (any && fsync(s->fds[STORE_TMP]) < 0)
                return negative_errno();
        memset(s->unsynced, 0, sizeof(s->unsynced));
        return 0;
}

void store_set_spare_pause(struct store *s, uint64_t usec) {
        if (s)
                s->spare_pause_usec = usec;
}

bool store_has_pending(const struct store *s) {
        if (!s)
                return false;
        for (enum store_dir d = 0; d < _STORE_DIR_MAX; d++)
                if (s->unsynced[d])
                        return true;
        return false;
}

/* The most a written spare may hold to be recovered: a log far over any
 * limit of the caller's is not one. */
#define SPARE_READ_MAX ((size_t) 1 << 30)

/* One written spare TMPNAME: 1 moved into DFD under the name NAME_OF gives
 * it (or already there: the link fallback's second name), 0 removed (not a
 * log), 2 moved to failed/ (the name is another file's), or -errno. */
static int recover_one(struct store *s, int dfd, const char *tmpname, store_spare_name_fn name_of) {
        const int tfd = s->fds[STORE_TMP];
        _cleanup_free_ char *data = NULL;
        char name[NAME_MAX + 1];
        struct stat a, b;
        size_t len;
        int leftover, r;

        r = store_read(s, STORE_TMP, tmpname, SPARE_READ_MAX, &data, &len);
        if (r < 0)
                return r;
        if (name_of(data, len, name, sizeof(name)) < 0 || !name_is_plain(name) || name[0] == '.') {
                if (unlinkat(tfd, tmpname, 0) < 0 && errno != ENOENT)
                        return negative_errno();
                return 0;
        }
        r = rename_noreplace(tfd, tmpname, dfd, name, &leftover);
        if (r >= 0)
                return 1;
        if (r != -EEXIST)
                return r;
        if (fstatat(tfd, tmpname, &a, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
                if (unlinkat(tfd, tmpname, 0) < 0)
                        return negative_errno();
                return 1;
        }
        /* Never happens by itself (a new log's name is unique); keep both. */
        if (renameat2(tfd, tmpname, s->fds[STORE_FAILED], tmpname, RENAME_NOREPLACE) < 0)
                return negative_errno();
        return 2;
}

int store_recover_spares(struct store *s, enum store_dir dir, store_spare_name_fn name_of, unsigned *ret_recovered,
                         unsigned *ret_dropped) {
        _cleanup_(closedirp) DIR *d = NULL;
        unsigned moved = 0, dropped = 0, failed = 0;
        int r;

        if (!s || (unsigned) dir >= _STORE_DIR_MAX || dir == STORE_TMP || !name_of)
                return -EINVAL;
        r = opendir_at(s->fds[STORE_TMP], ".", 0, &d);
        if (r < 0)
                return r;
        struct stat st;
        const char *name;
        while ((r = tmp_next(d, &st, &name)) > 0) {
                if (!is_written_spare(name, &st))
                        continue; /* our own spare is empty until a log takes it */
                r = recover_one(s, s->fds[dir], name, name_of);
                if (r < 0)
                        return r;
                moved += r == 1;
                dropped += r != 1;
                failed += r == 2;
        }
        if (r < 0)
                return r;
        /* As in store_sync_pending: the targets before tmp/. */
        if (moved > 0 && fsync(s->fds[dir]) < 0)
                return negative_errno();
        if (failed > 0 && fsync(s->fds[STORE_FAILED]) < 0)
                return negative_errno();
        if (moved + dropped > 0 && fsync(s->fds[STORE_TMP]) < 0)
                return negative_errno();
        if (ret_recovered)
                *ret_recovered = moved;
        if (ret_dropped)
                *ret_dropped = dropped;
        return 0;
}

int store_read(const struct store *s, enum store_dir dir, const char *name, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int owned = -1, fd = -1;
        _cleanup_free_ char *buf = NULL;
        const char *base;
        struct stat st;
        size_t n = 0, cap;
        int dfd, r;

        if (!ret)
                return -EINVAL;

        r = target_resolve(s, dir, name, &dfd, &owned, &base);
        if (r < 0)
                return r;

        /* Keep CAP arithmetic below from overflowing. */
        if (max > (size_t) SSIZE_MAX - 1)
                max = (size_t) SSIZE_MAX - 1;

        /* O_NOFOLLOW: data files are never symlinks; following one would let
         * whoever can write a folder make us read (and maybe echo) any file.
         * O_NONBLOCK: a FIFO must not block the loop. */
        fd = openat(dfd, base, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > (uint64_t) max)
                return -EFBIG;

        cap = (size_t) st.st_size + 1; /* +1 for the NUL */
        buf = malloc(cap);
        if (!buf)
                return -ENOMEM;

        for (;;) {
                ssize_t k;

                if (n == cap - 1) {
                        /* Full: EOF, or the file grew since fstat() (a log
                         * being appended to). Grow, but never beyond MAX. */
                        size_t more;
                        char *nbuf;

                        if (n >= max) {
                                char probe;

                                do
                                        k = read(fd, &probe, 1);
                                while (k < 0 && errno == EINTR);
                                if (k < 0)
                                        return negative_errno();
                                if (k > 0)
                                        return -EFBIG;
                                break;
                        }

                        more = n > 4096 ? n : 4096;
                        if (more > max - n)
                                more = max - n;
                        nbuf = realloc(buf, n + more + 1);
                        if (!nbuf)
                                return -ENOMEM;
                        buf = nbuf;
                        cap = n + more + 1;
                }

                k = read(fd, buf + n, cap - 1 - n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }

        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = n;
        return 0;
}

/* FNV-1a, 32 bit, over the bytes of REF; the low byte names the bucket.
 * This mapping is part of the on-disk format: changing the hash, the byte
 * taken or the spelling ("%02x", lowercase) would orphan every case already
 * in the spool. Never change it without a migration. */
void store_case_bucket(const char *ref, char buf[static 3]) {
        static const char hex[] = "0123456789abcdef";
        uint32_t h = UINT32_C(2166136261);

        for (const unsigned char *p = (const unsigned char *) ref; *p; p++) {
                h ^= *p;
                h *= UINT32_C(16777619);
        }

        buf[0] = hex[(h >> 4) & 0xf];
        buf[1] = hex[h & 0xf];
        buf[2] = '\0';
}

int store_case_name(const char *ref, char *buf, size_t len) {
        char bucket[3];
        int n;

        if (!name_is_plain(ref) || (!buf && len > 0))
                return -EINVAL;
        if (strlen(ref) + strlen(".json") > NAME_MAX)
                return -ENAMETOOLONG;

        store_case_bucket(ref, bucket);
        n = snprintf(buf, len, "%s/%s.json", bucket, ref);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n >= len)
                return -ENAMETOOLONG;
        return 0;
}

int store_case_relpath(struct store *s, const char *ref, char *buf, size_t len) {
        _cleanup_close_ int fd = -1;
        int r;

        if (!s)
                return -EINVAL;
        r = store_case_name(ref, buf, len);
        if (r < 0)
                return r;

        /* Buckets are made on first use; mkdirat_open() fsyncs cases/ when it
         * creates one, so the bucket survives a crash along with the case.
         * BUF begins with the bucket's two digits. */
        const char bucket[3] = { buf[0], buf[1], '\0' };
        r = mkdirat_open(s->fds[STORE_CASES], bucket, &fd);
        if (r < 0)
                return r;
        return 0;
}

int store_stat(const struct store *s, enum store_dir dir, const char *name, struct stat *ret) {
        _cleanup_close_ int owned = -1;
        const char *base;
        int dfd, r;

        if (!ret)
                return -EINVAL;
        r = target_resolve(s, dir, name, &dfd, &owned, &base);
        if (r < 0)
                return r;
        if (fstatat(dfd, base, ret, AT_SYMLINK_NOFOLLOW) < 0)
                return negative_errno();
        return 0;
}

int store_reject(struct store *s, const char *name, const char *reason) {
        _cleanup_free_ char *text = NULL;
        char final[NAME_MAX + 16], reason_name[NAME_MAX + 32];
        const int in = s ? s->fds[STORE_INCOMING] : -1, failed = s ? s->fds[STORE_FAILED] : -1;
        size_t base_len;
        int leftover = 0, r = -EEXIST;

        if (!s || !name_is_plain(name) || !reason)
                return -EINVAL;

        /* Leave room for ".1000" and ".reason": a name too long to carry them
         * is shortened, so that every input can still be rejected (the data
         * itself is kept whole). */
        base_len = strlen(name);
        if (base_len > NAME_MAX - strlen(".1000") - strlen(REASON_SUFFIX))
                base_len = NAME_MAX - strlen(".1000") - strlen(REASON_SUFFIX);

        for (unsigned i = 0; i <= REJECT_MAX; i++) {
                struct stat st;

                if (i == 0)
                        snprintf(final, sizeof(final), "%.*s", (int) base_len, name);
                else
                        snprintf(final, sizeof(final), "%.*s.%u", (int) base_len, name, i);
                snprintf(reason_name, sizeof(reason_name), "%s" REASON_SUFFIX, final);

                /* The reason's name must be free too: otherwise writing it
                 * would replace a file rejected earlier under that very name
                 * (input "x.reason", then input "x"). */
                if (fstatat(failed, reason_name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        continue;
                if (errno != ENOENT)
                        return negative_errno();

                r = rename_noreplace(in, name, failed, final, &leftover);
                if (r != -EEXIST)
                        break;
        }
        if (r < 0)
                return r;

        /* Make the move durable on both sides before anything else: the input
         * must neither vanish nor come back to be processed a second time. */
        if (fsync(failed) < 0)
                return negative_errno();
        if (leftover < 0)
                return leftover;
        if (fsync(in) < 0)
                return negative_errno();

        /* A crash before this point leaves the input in failed/ without its
         * reason: the data is kept, only the explanation is lost. */
        if (asprintf(&text, "%s\n", reason) < 0)
                return -ENOMEM;
        return store_create_atomic(s, STORE_FAILED, reason_name, text, strlen(text));
}

int store_remove(struct store *s, enum store_dir dir, const char *name) {
        _cleanup_close_ int owned = -1;
        const char *base;
        int dfd, r;

        r = target_resolve(s, dir, name, &dfd, &owned, &base);
        if (r < 0)
                return r;

        if (unlinkat(dfd, base, 0) < 0)
                return negative_errno();
        /* Without this a processed input could reappear after a crash and be
         * acted on twice. */
        if (fsync(dfd) < 0)
                return negative_errno();
        return 0;
}

int store_unlink(struct store *s, enum store_dir dir, const char *name) {
        if (!name[0] || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
                return -EINVAL;
        if (unlinkat(store_dirfd(s, dir), name, 0) < 0)
                return negative_errno();
        return 0;
}

int store_sync_dir(struct store *s, enum store_dir dir) {
        if (s && (unsigned) dir < _STORE_DIR_MAX && s->unsynced[dir])
                return store_sync_pending(s);
        if (fsync(store_dirfd(s, dir)) < 0)
                return negative_errno();
        return 0;
}

int store_consume(struct store *s, const char *name) {
        return store_remove(s, STORE_INCOMING, name);
}

struct entry {
        char *name;
        struct timespec ctim;
};

static int entry_cmp(const void *a, const void *b) {
        const struct entry *x = a, *y = b;

        if (x->ctim.tv_sec != y->ctim.tv_sec)
                return x->ctim.tv_sec < y->ctim.tv_sec ? -1 : 1;
        if (x->ctim.tv_nsec != y->ctim.tv_nsec)
                return x->ctim.tv_nsec < y->ctim.tv_nsec ? -1 : 1;
        return strcmp(x->name, y->name);
}

static void entries_free(struct entry *v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i].name);
        free(v);
}

/* Arrival order is ctime order: a rename into incoming/ updates the ctime of
 * the file (ext4, xfs, btrfs, tmpfs), while mtime is whatever the writer left
 * and can be set at will. */
int store_list_incoming(const struct store *s, char ***ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct entry *v = NULL;
        size_t n = 0, cap = 0;
        char **names;
        int r;

        if (!s || !ret || !ret_n)
                return -EINVAL;

        r = opendir_at(s->fds[STORE_INCOMING], ".", 0, &d);
        if (r < 0)
                return r;

        for (;;) {
                struct dirent *de;
                struct stat st;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0) {
                                r = negative_errno();
                                goto fail;
                        }
                        break;
                }
                /* Dot names are writers' temporary names (and . and ..). */
                if (de->d_name[0] == '.')
                        continue;
                /* No following: a symlink is not data we were given, and
                 * following it could read anything. */
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue; /* gone meanwhile */
                        r = negative_errno();
                        goto fail;
                }
                /* Not regular files are listed too: the caller moves them
                 * to failed/ rather than leaving them forever. */

                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        struct entry *nv = reallocarray(v, ncap, sizeof(*v));
                        if (!nv) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        v = nv;
                        cap = ncap;
                }
                v[n].name = strdup(de->d_name);
                if (!v[n].name) {
                        r = -ENOMEM;
                        goto fail;
                }
                v[n].ctim = st.st_ctim;
                n++;
        }

        if (n > 1)
                qsort(v, n, sizeof(*v), entry_cmp);

        /* NULL-terminated as a convenience; *RET_N is the count. */
        names = calloc(n + 1, sizeof(*names));
        if (!names) {
                r = -ENOMEM;
                goto fail;
        }
        for (size_t i = 0; i < n; i++)
                names[i] = v[i].name;
        free(v);

        *ret = names;
        *ret_n = n;
        return 0;

fail:
        entries_free(v, n);
        return r;
}

void store_names_free(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

int64_t store_free_bytes(const struct store *s) {
        struct statvfs sv;

        if (!s)
                return -EINVAL;
        /* tmp/ is where every write lands first. */
        if (fstatvfs(s->fds[STORE_TMP], &sv) < 0)
                return negative_errno();
        if (sv.f_frsize > 0 && (uint64_t) sv.f_bavail > (uint64_t) INT64_MAX / sv.f_frsize)
                return INT64_MAX;
        return (int64_t) ((uint64_t) sv.f_bavail * sv.f_frsize);
}

/* ---- group commit for whole-file writes ---- */

int store_stage(struct store *s, const void *data, size_t len, char name[static STORE_TMP_NAME_SIZE]) {
        if (!s || (!data && len > 0))
                return -EINVAL;
        return tmp_write_sync(s, data, len, name, false);
}

void store_unstage(struct store *s, const char *tmpname) {
        if (s && tmpname && tmpname[0])
                (void) unlinkat(s->fds[STORE_TMP], tmpname, 0);
}

int store_sync(struct store *s) {
        if (!s)
                return -EINVAL;
        /* Since Linux 5.8 syncfs() reports writeback errors (ENOSPC from
         * delayed allocation, EIO) that happened on the file system since the
         * last call through this descriptor. */
        if (syncfs(s->root_fd) < 0)
                return negative_errno();
        return 0;
}

int store_publish(struct store *s, const char *tmpname, enum store_dir dir, const char *name) {
        _cleanup_close_ int owned = -1;
        const char *base;
        int dfd, r;

        if (!s || !tmpname || !name_is_plain(tmpname))
                return -EINVAL;
        r = target_resolve(s, dir, name, &dfd, &owned, &base);
        if (r < 0)
                return r;
        if (renameat(s->fds[STORE_TMP], tmpname, dfd, base) < 0)
                return negative_errno();
        return 0;
}

/* ---- reading folders of many files ---- */

struct store_folder {
        DIR *d;
};

int store_folder_open(const struct store *s, enum store_dir dir, const char *sub, struct store_folder **ret) {
        struct store_folder *f;
        int r;

        if (!s || !ret || (unsigned) dir >= _STORE_DIR_MAX || (sub && !name_is_plain(sub)))
                return -EINVAL;
        f = malloc(sizeof(*f));
        if (!f)
                return -ENOMEM;
        r = opendir_at(s->fds[dir], sub ? sub : ".", sub ? O_NOFOLLOW : 0, &f->d);
        if (r < 0) {
                free(f);
                return r;
        }
        *ret = f;
        return 0;
}

const char *store_folder_next(struct store_folder *f) {
        struct dirent *de;

        while ((de = readdir(f->d)))
                if (de->d_name[0] != '.')
                        return de->d_name;
        return NULL;
}

int store_folder_read(const struct store_folder *f, const char *name, size_t max, char **buf, size_t *cap,
                      size_t *ret_len) {
        _cleanup_close_ int fd = -1;
        size_t len = 0;

        if (!name_is_plain(name))
                return -EINVAL;
        /* No fstat: O_NONBLOCK keeps a FIFO from blocking, a folder fails the read. */
        fd = openat(dirfd(f->d), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return negative_errno();
        for (;;) {
                if (len + 1 >= *cap) {
                        size_t ncap = *cap ? *cap * 2 : 64 * 1024;
                        if (ncap > max + 2)
                                return -EFBIG;
                        char *b = realloc(*buf, ncap);
                        if (!b)
                                return -ENOMEM;
                        *buf = b;
                        *cap = ncap;
                }
                size_t want = *cap - 1 - len;
                ssize_t k = read(fd, *buf + len, want);
                if (k < 0)
                        return negative_errno();
                len += (size_t) k;
                /* Short: the end of a regular file (a million files: a
                 * million read()s saved). Anything else is damaged anyway. */
                if ((size_t) k < want)
                        break;
        }
        *ret_len = len;
        return 0;
}

void store_folder_close(struct store_folder *f) {
        if (!f)
                return;
        closedir(f->d);
        free(f);
}

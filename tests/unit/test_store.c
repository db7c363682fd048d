/* test_store.c - the spool store against a real file system.
 *
 * Every test gets a fresh mkdtemp() folder; nothing is mocked, because what
 * matters here (modes, renames, fsync, ENOSPC) is what the kernel does.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "retention.h"
#include "store.h"
#include "test.h"

struct fixture {
        char dir[PATH_MAX / 2]; /* the mkdtemp() folder */
        char root[PATH_MAX];    /* the spool root inside it */
        bool mounted;           /* a tmpfs is mounted on root */
        mode_t old_umask;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        test_dir_make(f->dir, "test-store");
        snprintf(f->root, sizeof(f->root), "%s/spool", f->dir);
        f->old_umask = umask(022);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        if (f->mounted)
                (void) umount2(f->root, MNT_DETACH);
        umask(f->old_umask);
        (void) test_dir_remove(f->dir);
        free(f);
        return 0;
}

static struct store *open_store(struct fixture *f, unsigned *stale) {
        struct store *s = NULL;

        assert_int_equal(store_open(f->root, &s, stale), 0);
        assert_non_null(s);
        return s;
}

static char *path_of(const struct fixture *f, const char *rel) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", f->root, rel) > 0);
        return p;
}

static mode_t mode_of(const struct fixture *f, const char *rel) {
        _cleanup_free_ char *p = path_of(f, rel);
        struct stat st;

        assert_int_equal(lstat(p, &st), 0);
        return st.st_mode & 07777;
}

static bool exists(const struct fixture *f, const char *rel) {
        _cleanup_free_ char *p = path_of(f, rel);
        struct stat st;

        return lstat(p, &st) == 0;
}

/* Entries in ROOT/REL, without . and .. */
static unsigned count_entries(const struct fixture *f, const char *rel) {
        _cleanup_free_ char *p = path_of(f, rel);
        struct dirent *de;
        unsigned n = 0;
        DIR *d;

        d = opendir(p);
        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static void put_file(const struct fixture *f, const char *rel, const char *content) {
        _cleanup_free_ char *p = path_of(f, rel);
        _cleanup_close_ int fd = -1;

        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
}

static void assert_content(struct store *s, enum store_dir d, const char *name, const char *want) {
        _cleanup_free_ char *buf = NULL;
        size_t len = SIZE_MAX;

        assert_int_equal(store_read(s, d, name, 1 << 20, &buf, &len), 0);
        assert_int_equal(len, strlen(want));
        assert_string_equal(buf, want);
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static const char *const folders[] = { "incoming", "activations", "cases", "failed", "outbox", "tmp" };

/* Layout and modes must not depend on the umask the daemon inherits. */
static void check_layout_modes(void **state, mode_t mask) {
        struct fixture *f = *state;
        struct store *s;
        char rel[64];
        unsigned stale = 99;

        /* A nested root, so that mkdir -p has ancestors to make. */
        snprintf(f->root, sizeof(f->root), "%s/var/spool/beredd", f->dir);
        umask(mask);
        s = open_store(f, &stale);
        assert_int_equal(stale, 0);

        assert_string_equal(store_root(s), f->root);
        assert_int_equal(mode_of(f, ""), 0750);
        assert_int_equal(mode_of(f, ".."), 0750); /* created by mkdir -p */
        for (size_t i = 0; i < ELEMENTSOF(folders); i++) {
                struct stat st;

                assert_string_equal(store_dir_name((enum store_dir) i), folders[i]);
                assert_int_equal(mode_of(f, folders[i]), 0750);
                assert_true(store_dirfd(s, (enum store_dir) i) >= 0);
                assert_int_equal(fstat(store_dirfd(s, (enum store_dir) i), &st), 0);
                assert_true(S_ISDIR(st.st_mode));
        }
        assert_null(store_dir_name(_STORE_DIR_MAX));
        assert_int_equal(store_dirfd(s, _STORE_DIR_MAX), -EINVAL);

        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "w.txt", "x", 1), 0);
        assert_int_equal(mode_of(f, "outbox/w.txt"), 0640);
        assert_int_equal(store_create_atomic(s, STORE_ACTIVATIONS, "c.log", "x", 1), 0);
        assert_int_equal(mode_of(f, "activations/c.log"), 0640);
        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "a.log", "x\n", 2), 0);
        assert_int_equal(mode_of(f, "activations/a.log"), 0640);

        assert_int_equal(store_case_relpath(s, "K-2041", rel, sizeof(rel)), 0);
        assert_int_equal(mode_of(f, "cases/00"), 0750);
        assert_int_equal(store_write_atomic(s, STORE_CASES, rel, "{}", 2), 0);
        assert_int_equal(mode_of(f, "cases/00/K-2041.json"), 0640);

        put_file(f, "incoming/bad.json", "nope");
        assert_int_equal(store_reject(s, "bad.json", "not JSON"), 0);
        assert_int_equal(mode_of(f, "failed/bad.json.reason"), 0640);

        store_free(s);

        /* Reopening an existing spool changes nothing. */
        s = open_store(f, &stale);
        assert_int_equal(stale, 0);
        assert_int_equal(mode_of(f, "incoming"), 0750);
        store_free(s);
}

static void test_layout_modes_umask022(void **state) {
        check_layout_modes(state, 022);
}

static void test_layout_modes_umask077(void **state) {
        check_layout_modes(state, 077);
}

static void test_stale_tmp_removed(void **state) {
        struct fixture *f = *state;
        _cleanup_free_ char *link = NULL;
        struct store *s;
        unsigned stale = 99;

        s = open_store(f, &stale);
        assert_int_equal(stale, 0);
        /* A write into tmp/ (the daemon's "is the spool writable again"
         * probe) is allowed, and is stale at the next open like the rest. */
        assert_int_equal(store_write_atomic(s, STORE_TMP, ".probe", "", 0), 0);
        store_free(s);

        put_file(f, "tmp/123.4.00ff00ff00ff00ff", "half a wri");
        put_file(f, "tmp/.hidden", "x");
        link = path_of(f, "tmp/dangling");
        assert_int_equal(symlink("/nonexistent", link), 0);
        {
                _cleanup_free_ char *d = path_of(f, "tmp/somedir");
                assert_int_equal(mkdir(d, 0700), 0);
        }

        s = open_store(f, &stale);
        assert_int_equal(stale, 4);
        /* Folders are never ours to remove. */
        assert_int_equal(count_entries(f, "tmp"), 1);
        assert_true(exists(f, "tmp/somedir"));
        store_free(s);

        /* NULL is fine when the count is not wanted. */
        assert_int_equal(store_open(f->root, &s, NULL), 0);
        store_free(s);
}

static void test_write_atomic_replaces(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);

        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "m", "one", 3), 0);
        assert_content(s, STORE_OUTBOX, "m", "one");
        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "m", "second", 6), 0);
        assert_content(s, STORE_OUTBOX, "m", "second");
        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "empty", NULL, 0), 0);
        assert_content(s, STORE_OUTBOX, "empty", "");
        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "m", NULL, 5), -EINVAL);

        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_int_equal(count_entries(f, "outbox"), 2);
        store_free(s);
}

static void test_group_commit(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        char t1[STORE_TMP_NAME_SIZE], t2[STORE_TMP_NAME_SIZE], t3[STORE_TMP_NAME_SIZE], name[128];
        unsigned stale = 0;

        assert_int_equal(store_case_relpath(s, "K-1", name, sizeof(name)), 0);
        assert_int_equal(store_write_atomic(s, STORE_CASES, name, "old", 3), 0);
        assert_int_equal(store_stage(s, "new", 3, t1), 0);
        assert_int_equal(store_stage(s, "two", 3, t2), 0);
        assert_int_equal(store_stage(s, "dropped", 7, t3), 0);
        assert_string_not_equal(t1, t2);
        /* staged is not published: the old content stands */
        assert_content(s, STORE_CASES, name, "old");
        assert_int_equal(count_entries(f, "tmp"), 3);
        assert_int_equal(store_sync(s), 0);
        assert_int_equal(store_publish(s, t1, STORE_CASES, name), 0);
        assert_int_equal(store_publish(s, t2, STORE_OUTBOX, "m"), 0);
        assert_int_equal(store_publish(s, "../x", STORE_OUTBOX, "m"), -EINVAL);
        assert_int_equal(store_publish(s, t2, STORE_OUTBOX, "../m"), -EINVAL);
        assert_int_equal(store_sync(s), 0);
        assert_content(s, STORE_CASES, name, "new");
        assert_content(s, STORE_OUTBOX, "m", "two");
        store_unstage(s, t3);
        assert_int_equal(count_entries(f, "tmp"), 0);

        /* a staged file never published (a crash) is gone at the next open */
        assert_int_equal(store_stage(s, "lost", 4, t3), 0);
        store_free(s);
        s = open_store(f, &stale);
        assert_int_equal(stale, 1);
        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_content(s, STORE_CASES, name, "new");
        store_free(s);
}

static void test_create_atomic_refuses_existing(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);

        assert_int_equal(store_create_atomic(s, STORE_ACTIVATIONS, "a1.log", "first\n", 6), 0);
        assert_int_equal(store_create_atomic(s, STORE_ACTIVATIONS, "a1.log", "second\n", 7), -EEXIST);
        assert_content(s, STORE_ACTIVATIONS, "a1.log", "first\n");
        assert_int_equal(count_entries(f, "tmp"), 0);
        store_free(s);
}

/* The name of the only file in tmp/ (the spare) into BUF. */
static void only_tmp_name(const struct fixture *f, char *buf, size_t len) {
        _cleanup_free_ char *p = path_of(f, "tmp");
        DIR *d = opendir(p);
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                        snprintf(buf, len, "%s", de->d_name);
                        n++;
                }
        closedir(d);
        assert_int_equal(n, 1);
}

static void test_spare(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        unsigned stale = 0;

        assert_false(store_has_spare(s));
        assert_int_equal(store_prepare_spare(s), 0);
        assert_int_equal(store_prepare_spare(s), 0); /* one at a time */
        assert_true(store_has_spare(s));
        assert_int_equal(count_entries(f, "tmp"), 1);
        /* a plain append or whole-file write never takes it */
        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "p.log", "{\"e\":0}\n", 8), 0);
        assert_int_equal(store_create_atomic(s, STORE_OUTBOX, "o", "x", 1), 0);
        assert_true(store_has_spare(s));
        assert_false(store_has_pending(s));
        /* the first record of a deferred log takes it: in place, whole,
         * nothing left in tmp/, the folders' sync pending */
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "s.log", "{\"e\":1}\n", 8), 0);
        assert_false(store_has_spare(s));
        assert_true(store_has_pending(s));
        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_content(s, STORE_ACTIVATIONS, "s.log", "{\"e\":1}\n");
        /* the next spare syncs the folders too; the next record appends,
         * spare or not */
        assert_int_equal(store_prepare_spare(s), 0);
        assert_false(store_has_pending(s));
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "s.log", "{\"e\":2}\n", 8), 0);
        assert_false(store_has_pending(s));
        assert_true(store_has_spare(s));
        assert_content(s, STORE_ACTIVATIONS, "s.log", "{\"e\":1}\n{\"e\":2}\n");
        assert_int_equal(store_sync_pending(s), 0);
        assert_false(store_has_pending(s));
        assert_int_equal(store_sync_pending(s), 0);
        /* without a spare: created whole as store_append does */
        store_free(s);
        s = open_store(f, &stale);
        assert_int_equal(stale, 0);
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "n.log", "{\"e\":3}\n", 8), 0);
        assert_false(store_has_pending(s));
        assert_content(s, STORE_ACTIVATIONS, "n.log", "{\"e\":3}\n");
        /* store_sync_dir() does the pending work too */
        assert_int_equal(store_prepare_spare(s), 0);
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "t.log", "{\"e\":4}\n", 8), 0);
        assert_true(store_has_pending(s));
        assert_int_equal(store_sync_dir(s, STORE_OUTBOX), 0);
        assert_true(store_has_pending(s));
        assert_int_equal(store_sync_dir(s, STORE_ACTIVATIONS), 0);
        assert_false(store_has_pending(s));
        /* a staged write (synced later) never takes it; store_free removes it */
        char t1[STORE_TMP_NAME_SIZE];
        assert_int_equal(store_prepare_spare(s), 0);
        assert_int_equal(store_stage(s, "st", 2, t1), 0);
        assert_true(store_has_spare(s));
        store_unstage(s, t1);
        store_free(s);
        s = open_store(f, &stale);
        assert_int_equal(stale, 0);
        assert_int_equal(count_entries(f, "tmp"), 0);
        store_free(s);
}

/* The test's store_spare_name_fn: a first line "name NAME". */
static int name_of_line(const char *data, size_t len, char *name, size_t size) {
        const char *nl = memchr(data, '\n', len);
        if (!nl || nl - data < 6 || strncmp(data, "name ", 5) != 0 || (size_t) (nl - data - 5) + 4 >= size)
                return -EINVAL;
        snprintf(name, size, "%.*s.log", (int) (nl - data - 5), data + 5);
        return 0;
}

/* Every state a crash can leave around store_append_deferred(), made by
 * hand in tmp/ (the store's own calls cannot be stopped half-way), and what
 * the next start makes of it (the crash points in store.c). */
static void test_spare_recovery(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        unsigned stale = 0, recovered = 9, dropped = 9;
        char spare[NAME_MAX + 1], rel[NAME_MAX + 8];

        /* 2: written and synced, the rename not done: the daemon's own
         * spare, written through its name in tmp/ */
        assert_int_equal(store_prepare_spare(s), 0);
        only_tmp_name(f, spare, sizeof(spare));
        assert_true(strncmp(spare, "spare.", 6) == 0);
        snprintf(rel, sizeof(rel), "tmp/%s", spare);
        put_file(f, rel, "name a1\n{\"sending\":1}\n");
        store_free(s); /* removes its spare: so made again below, as a crash would leave it */
        put_file(f, rel, "name a1\n{\"sending\":1}\n");
        /* 1: a torn first line, an empty spare, and a stranger */
        put_file(f, "tmp/spare.1.2.torn", "name a2");
        put_file(f, "tmp/spare.1.3.empty", "");
        put_file(f, "tmp/spare.1.4.other", "{\"not\": \"a log\"}\n");
        put_file(f, "tmp/1.5.whole-file", "name a3\n");
        /* 4: the rename durable, the tmp/ name not removed (one inode) */
        put_file(f, "activations/a6.log", "name a6\n");
        {
                _cleanup_free_ char *from = path_of(f, "activations/a6.log");
                _cleanup_free_ char *to = path_of(f, "tmp/spare.1.6.link");
                assert_int_equal(link(from, to), 0);
        }
        /* another file under the name: kept aside in failed/ */
        put_file(f, "activations/a7.log", "name a7\nmine\n");
        put_file(f, "tmp/spare.1.7.conflict", "name a7\ntheirs\n");

        s = open_store(f, &stale);
        assert_int_equal(stale, 2); /* the empty spare and the whole-file write */
        assert_int_equal(store_recover_spares(s, STORE_ACTIVATIONS, name_of_line, &recovered, &dropped), 0);
        assert_int_equal(recovered, 2); /* a1, a6 */
        assert_int_equal(dropped, 3);   /* torn, other, conflict */
        assert_content(s, STORE_ACTIVATIONS, "a1.log", "name a1\n{\"sending\":1}\n");
        assert_content(s, STORE_ACTIVATIONS, "a6.log", "name a6\n");
        assert_content(s, STORE_ACTIVATIONS, "a7.log", "name a7\nmine\n");
        assert_content(s, STORE_FAILED, "spare.1.7.conflict", "name a7\ntheirs\n");
        assert_false(exists(f, "activations/a2.log"));
        assert_false(exists(f, "activations/a3.log"));
        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_int_equal(count_entries(f, "activations"), 3);
        /* nothing to do the second time; NULL counts are fine */
        assert_int_equal(store_recover_spares(s, STORE_ACTIVATIONS, name_of_line, &recovered, &dropped), 0);
        assert_int_equal(recovered + dropped, 0);
        assert_int_equal(store_recover_spares(s, STORE_ACTIVATIONS, name_of_line, NULL, NULL), 0);
        assert_int_equal(store_recover_spares(s, STORE_TMP, name_of_line, NULL, NULL), -EINVAL);
        assert_int_equal(store_recover_spares(s, STORE_ACTIVATIONS, NULL, NULL, NULL), -EINVAL);
        /* an empty own spare is never taken for a crash's */
        assert_int_equal(store_prepare_spare(s), 0);
        assert_int_equal(store_recover_spares(s, STORE_ACTIVATIONS, name_of_line, &recovered, &dropped), 0);
        assert_int_equal(recovered + dropped, 0);
        assert_true(store_has_spare(s));
        /* 3: after the deferred rename, killed before the sync: in place */
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "a8.log", "name a8\n", 8), 0);
        store_free(s);
        s = open_store(f, &stale);
        assert_int_equal(store_recover_spares(s, STORE_ACTIVATIONS, name_of_line, &recovered, &dropped), 0);
        assert_int_equal(recovered + dropped, 0);
        assert_content(s, STORE_ACTIVATIONS, "a8.log", "name a8\n");
        store_free(s);
}

static void test_append(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);

        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "x.log", "{\"e\":1}\n", 8), 0);
        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "x.log", "{\"e\":2}\n", 8), 0);
        assert_content(s, STORE_ACTIVATIONS, "x.log", "{\"e\":1}\n{\"e\":2}\n");
        assert_int_equal(count_entries(f, "tmp"), 0);
        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "../x.log", "y", 1), -EINVAL);
        store_free(s);
}

static void test_read(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        _cleanup_free_ char *buf = NULL, *target = NULL, *link = NULL, *d = NULL;
        size_t len = 0;

        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "ten", "0123456789", 10), 0);

        assert_int_equal(store_read(s, STORE_OUTBOX, "ten", 9, &buf, &len), -EFBIG);
        assert_null(buf);
        assert_int_equal(store_read(s, STORE_OUTBOX, "ten", 10, &buf, &len), 0);
        assert_int_equal(len, 10);
        assert_int_equal(buf[10], '\0');
        assert_string_equal(buf, "0123456789");
        free(TAKE_PTR(buf));

        /* ret_len is optional. */
        assert_int_equal(store_read(s, STORE_OUTBOX, "ten", 100, &buf, NULL), 0);
        assert_string_equal(buf, "0123456789");
        free(TAKE_PTR(buf));

        assert_int_equal(store_read(s, STORE_OUTBOX, "missing", 100, &buf, &len), -ENOENT);

        /* Data is never a symlink or a folder. */
        target = path_of(f, "outbox/ten");
        link = path_of(f, "outbox/link");
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(store_read(s, STORE_OUTBOX, "link", 100, &buf, &len), -ELOOP);
        d = path_of(f, "outbox/dir");
        assert_int_equal(mkdir(d, 0700), 0);
        assert_int_equal(store_read(s, STORE_OUTBOX, "dir", 100, &buf, &len), -EISDIR);
        assert_null(buf);
        store_free(s);
}

static void test_case_bucket(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        char b[3], rel[64];

        /* FNV-1a 32: offset basis 0x811c9dc5, prime 0x01000193, per byte
         * h ^= byte; h *= prime. "" leaves the basis: low byte c5.
         * "K-2041": K 0xce0c068a, - 0x03ee78e5, 2 0x07683a75,
         *           0 0xee13ba9f, 4 0x740edb31, 1 0xb362c100: low byte 00.
         * These values are the on-disk format; they must never change. */
        store_case_bucket("K-2041", b);
        assert_string_equal(b, "00");
        store_case_bucket("", b);
        assert_string_equal(b, "c5");
        store_case_bucket("a", b); /* 0xe40c292c */
        assert_string_equal(b, "2c");

        assert_false(exists(f, "cases/00"));
        assert_int_equal(store_case_relpath(s, "K-2041", rel, sizeof(rel)), 0);
        assert_string_equal(rel, "00/K-2041.json");
        assert_true(exists(f, "cases/00"));
        /* Again, with the bucket there. */
        assert_int_equal(store_case_relpath(s, "K-2041", rel, sizeof(rel)), 0);
        assert_string_equal(rel, "00/K-2041.json");

        /* The relpath is a NAME in cases/. */
        assert_int_equal(store_create_atomic(s, STORE_CASES, rel, "{\"v\":1}", 7), 0);
        assert_int_equal(store_write_atomic(s, STORE_CASES, rel, "{\"v\":2}", 7), 0);
        assert_content(s, STORE_CASES, rel, "{\"v\":2}");
        assert_true(exists(f, "cases/00/K-2041.json"));
        assert_int_equal(store_remove(s, STORE_CASES, rel), 0);
        assert_false(exists(f, "cases/00/K-2041.json"));
        assert_int_equal(store_remove(s, STORE_CASES, rel), -ENOENT);

        /* A bucket not made by store_case_relpath is not made implicitly. */
        assert_int_equal(store_write_atomic(s, STORE_CASES, "7f/x.json", "{}", 2), -ENOENT);

        /* Too small a buffer. */
        assert_int_equal(store_case_relpath(s, "K-2041", rel, 14), -ENAMETOOLONG);
        assert_int_equal(store_case_relpath(s, "K-2041", rel, 15), 0);
        store_free(s);
}

/* The case store's reads go through the store: the case name without a
 * folder made, a status that does not follow a symlink, and a folder of
 * many files listed and read with one buffer. */
static void test_case_folders(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        struct store_folder *d;
        struct stat st;
        char rel[64], *buf = NULL;
        size_t cap = 0, len;
        const char *name;
        int seen = 0;

        assert_int_equal(store_case_name("K-2041", rel, sizeof(rel)), 0);
        assert_string_equal(rel, "00/K-2041.json");
        assert_false(exists(f, "cases/00")); /* not made */
        assert_int_equal(store_case_name("K-2041", rel, 14), -ENAMETOOLONG);
        assert_int_equal(store_case_name("a/b", rel, sizeof(rel)), -EINVAL);
        assert_int_equal(store_case_name("..", rel, sizeof(rel)), -EINVAL);

        assert_int_equal(store_stat(s, STORE_CASES, "00", &st), -ENOENT);
        assert_int_equal(store_folder_open(s, STORE_CASES, "00", &d), -ENOENT);
        assert_int_equal(store_case_relpath(s, "K-2041", rel, sizeof(rel)), 0);
        assert_int_equal(store_stat(s, STORE_CASES, "00", &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(store_stat(s, STORE_CASES, rel, &st), -ENOENT);
        assert_int_equal(store_create_atomic(s, STORE_CASES, rel, "{\"ref\":1}\n", 10), 0);
        assert_int_equal(store_stat(s, STORE_CASES, rel, &st), 0);
        assert_int_equal(st.st_size, 10);
        put_file(f, "cases/00/.hidden", "x");
        char *target = path_of(f, "cases/00/K-2041.json"), *link = path_of(f, "cases/00/link.json");
        assert_int_equal(symlink(target, link), 0);
        assert_int_equal(store_stat(s, STORE_CASES, "00/link.json", &st), 0);
        assert_true(S_ISLNK(st.st_mode)); /* not followed */

        assert_int_equal(store_folder_open(s, STORE_CASES, "../x", &d), -EINVAL);
        assert_int_equal(store_folder_open(s, STORE_CASES, NULL, &d), 0); /* cases/ itself */
        while ((name = store_folder_next(d)))
                seen += streq(name, "00");
        assert_int_equal(seen, 1);
        store_folder_close(d);

        assert_int_equal(store_folder_open(s, STORE_CASES, "00", &d), 0);
        seen = 0;
        while ((name = store_folder_next(d))) {
                assert_true(name[0] != '.'); /* ".", "..", ".hidden" skipped */
                seen++;
        }
        assert_int_equal(seen, 2);
        assert_int_equal(store_folder_read(d, "K-2041.json", 1024 * 1024, &buf, &cap, &len), 0);
        assert_int_equal(len, 10);
        assert_int_equal(cap, 64 * 1024);
        assert_memory_equal(buf, "{\"ref\":1}\n", 10);
        assert_int_equal(store_folder_read(d, "link.json", 1024 * 1024, &buf, &cap, &len), -ELOOP);
        assert_int_equal(store_folder_read(d, "none.json", 1024 * 1024, &buf, &cap, &len), -ENOENT);
        /* Larger than MAX + 2 once the buffer must grow past it. */
        char *big = calloc(1, 70000);
        assert_non_null(big);
        memset(big, 'x', 69999);
        put_file(f, "cases/00/big.json", big);
        assert_int_equal(store_folder_read(d, "big.json", 65536, &buf, &cap, &len), -EFBIG);
        assert_int_equal(store_folder_read(d, "big.json", 1024 * 1024, &buf, &cap, &len), 0);
        assert_int_equal(len, 69999);
        assert_int_equal(cap, 128 * 1024);
        store_folder_close(d);
        store_folder_close(NULL);
        free(big);
        free(buf);
        free(target);
        free(link);
        store_free(s);
}

static void test_reject(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);

        put_file(f, "incoming/bad.json", "{oops");
        assert_int_equal(store_reject(s, "bad.json", "line 1: not JSON"), 0);
        assert_false(exists(f, "incoming/bad.json"));
        assert_content(s, STORE_FAILED, "bad.json", "{oops");
        assert_content(s, STORE_FAILED, "bad.json.reason", "line 1: not JSON\n");

        /* Same name again: kept beside the first, not over it. */
        put_file(f, "incoming/bad.json", "{oops again");
        assert_int_equal(store_reject(s, "bad.json", "again"), 0);
        assert_content(s, STORE_FAILED, "bad.json", "{oops");
        assert_content(s, STORE_FAILED, "bad.json.1", "{oops again");
        assert_content(s, STORE_FAILED, "bad.json.1.reason", "again\n");

        /* An input called "x.reason" rejected first must not be overwritten
         * by the reason of a later input called "x". */
        put_file(f, "incoming/x.reason", "data, not a reason");
        assert_int_equal(store_reject(s, "x.reason", "r1"), 0);
        put_file(f, "incoming/x", "x data");
        assert_int_equal(store_reject(s, "x", "r2"), 0);
        assert_content(s, STORE_FAILED, "x.reason", "data, not a reason");
        assert_content(s, STORE_FAILED, "x.1", "x data");
        assert_content(s, STORE_FAILED, "x.1.reason", "r2\n");

        assert_int_equal(store_reject(s, "missing.json", "r"), -ENOENT);
        assert_int_equal(count_entries(f, "incoming"), 0);
        assert_int_equal(count_entries(f, "tmp"), 0);
        store_free(s);
}

/* Set the modification time of REL to AGE seconds ago. */
static void age_file(const struct fixture *f, const char *rel, long age) {
        _cleanup_free_ char *p = path_of(f, rel);
        struct timespec ts[2];
        clock_gettime(CLOCK_REALTIME, &ts[0]);
        ts[0].tv_sec -= age;
        ts[1] = ts[0];
        assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* The retention sweep of outbox/ and failed/ (no activations here): by
 * age, an input with its .reason as one (aged by the .reason), never a
 * folder or a symlink, counted per kind. */
static void test_retention_sweep(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        const struct retention_conf rc = { .activations = USEC_PER_DAY, .outbox = 3600 * USEC_PER_SEC,
                                           .failed = 2 * 3600 * USEC_PER_SEC, .stale_after = USEC_PER_DAY };
        struct retention_counts k;

        put_file(f, "outbox/old.json", "{}");
        put_file(f, "outbox/new.json", "{}");
        age_file(f, "outbox/old.json", 3601 + 60);
        _cleanup_free_ char *dir = path_of(f, "outbox/sub");
        assert_int_equal(mkdir(dir, 0750), 0);
        age_file(f, "outbox/sub", 99999);
        _cleanup_free_ char *link = path_of(f, "outbox/link");
        assert_int_equal(symlink("/etc/passwd", link), 0);
        age_file(f, "outbox/link", 99999);

        put_file(f, "failed/a.json", "x");     /* old with its reason: one input */
        put_file(f, "failed/a.json.reason", "r\n");
        age_file(f, "failed/a.json", 99999);
        age_file(f, "failed/a.json.reason", 99999);
        put_file(f, "failed/b.json", "x");     /* written long ago, rejected now: stays */
        put_file(f, "failed/b.json.reason", "r\n");
        age_file(f, "failed/b.json", 99999);
        put_file(f, "failed/c.json.reason", "orphan\n"); /* a reason alone, old */
        age_file(f, "failed/c.json.reason", 99999);
        put_file(f, "failed/d.json", "no reason, new");

        retention_sweep(s, NULL, NULL, &rc, beredd_now(), &k);
        assert_int_equal(k.error, 0);
        assert_int_equal(k.activations, 0);
        assert_int_equal(k.outbox, 1);
        assert_int_equal(k.failed, 2);
        assert_false(exists(f, "outbox/old.json"));
        assert_true(exists(f, "outbox/new.json"));
        assert_true(exists(f, "outbox/sub"));
        assert_true(exists(f, "outbox/link"));
        assert_false(exists(f, "failed/a.json"));
        assert_false(exists(f, "failed/a.json.reason"));
        assert_true(exists(f, "failed/b.json"));
        assert_true(exists(f, "failed/b.json.reason"));
        assert_false(exists(f, "failed/c.json.reason"));
        assert_true(exists(f, "failed/d.json"));

        /* Nothing more to do: nothing removed the second time. */
        retention_sweep(s, NULL, NULL, &rc, beredd_now(), &k);
        assert_int_equal(k.outbox + k.failed, 0);
        assert_int_equal(store_unlink(s, STORE_OUTBOX, "../x"), -EINVAL);
        assert_int_equal(store_unlink(s, STORE_OUTBOX, "gone.json"), -ENOENT);
        store_free(s);
}

static void test_reject_long_name(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        char name[NAME_MAX + 1], rel[NAME_MAX + 16];

        memset(name, 'n', NAME_MAX);
        name[NAME_MAX] = '\0';
        snprintf(rel, sizeof(rel), "incoming/%s", name);
        put_file(f, rel, "long");
        assert_int_equal(store_reject(s, name, "too long a name"), 0);
        assert_int_equal(count_entries(f, "incoming"), 0);
        /* Shortened to leave room for ".1000.reason"; data and reason kept. */
        assert_int_equal(count_entries(f, "failed"), 2);
        name[NAME_MAX - 12] = '\0';
        assert_content(s, STORE_FAILED, name, "long");
        store_free(s);
}

static void test_consume(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);

        put_file(f, "incoming/ok.json", "{}");
        assert_int_equal(store_consume(s, "ok.json"), 0);
        assert_false(exists(f, "incoming/ok.json"));
        assert_int_equal(store_consume(s, "ok.json"), -ENOENT);
        store_free(s);
}

static void test_list_incoming(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        _cleanup_free_ char *staging = NULL;
        const char *arrival[] = { "c.json", "a.json", "b.json" };
        char **v = NULL;
        size_t n = 99;

        assert_int_equal(store_list_incoming(s, &v, &n), 0);
        assert_int_equal(n, 0);
        assert_non_null(v);
        assert_null(v[0]);
        store_names_free(v, n);

        /* Writers stage elsewhere on the same file system and rename in; the
         * rename sets the ctime, which is arrival order. mtimes are set to
         * disagree with it, and names sort differently too. */
        assert_true(asprintf(&staging, "%s/staging", f->dir) > 0);
        assert_int_equal(mkdir(staging, 0700), 0);
        for (size_t i = 0; i < ELEMENTSOF(arrival); i++) {
                _cleanup_free_ char *from = NULL, *to = NULL;
                struct timespec times[2] = { { .tv_sec = 0, .tv_nsec = UTIME_OMIT },
                                             { .tv_sec = (time_t) (2000000000 - 1000 * (long) i) } };

                assert_true(asprintf(&from, "%s/%s", staging, arrival[i]) > 0);
                assert_true(asprintf(&to, "%s/incoming/%s", f->root, arrival[i]) > 0);
                {
                        _cleanup_close_ int fd = open(from, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                        assert_true(fd >= 0);
                        assert_int_equal(write(fd, "{}", 2), 2);
                }
                assert_int_equal(utimensat(AT_FDCWD, from, times, 0), 0);
                sleep_ms(20);
                assert_int_equal(rename(from, to), 0);
                sleep_ms(20);
        }

        /* Not data: a writer's dot-name, a folder, symlinks, a FIFO. */
        put_file(f, "incoming/.d.json.tmp", "{");
        {
                _cleanup_free_ char *d = path_of(f, "incoming/sub.json"), *l = path_of(f, "incoming/link.json"),
                                    *l2 = path_of(f, "incoming/dangling.json"),
                                    *t = path_of(f, "incoming/a.json"), *p = path_of(f, "incoming/fifo.json");
                assert_int_equal(mkdir(d, 0700), 0);
                assert_int_equal(symlink(t, l), 0);
                assert_int_equal(symlink("/nonexistent", l2), 0);
                assert_int_equal(mkfifo(p, 0600), 0);
        }

        /* Everything but the dot-name is listed: the daemon moves what is
         * not a regular file to failed/. Regular files in arrival order. */
        assert_int_equal(store_list_incoming(s, &v, &n), 0);
        assert_int_equal(n, 3 + 4);
        {
                size_t j = 0;
                for (size_t i = 0; i < n; i++)
                        if (j < 3 && streq(v[i], arrival[j]))
                                j++;
                assert_int_equal(j, 3);
        }
        assert_null(v[n]);
        store_names_free(v, n);

        /* Listing leaves everything in place. */
        assert_int_equal(count_entries(f, "incoming"), 3 + 5);

        /* Listing twice gives the same answer (no shared directory offset). */
        assert_int_equal(store_list_incoming(s, &v, &n), 0);
        assert_int_equal(n, 3 + 4);
        store_names_free(v, n);
        store_names_free(NULL, 0);
        store_free(s);
}

static void test_bad_names(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);
        const char *bad[] = { "", ".", "..", "a/b", "/abs", "../x", "x/" };
        const char *bad_cases[] = { "ab/", "ab/..", "ab/.", "ab/x/y", "AB/x", "zz/x", "a/x", "abc/x" };
        char rel[64], *buf = NULL;
        char **v = NULL;
        size_t n;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *b = bad[i];

                assert_int_equal(store_write_atomic(s, STORE_OUTBOX, b, "x", 1), -EINVAL);
                assert_int_equal(store_create_atomic(s, STORE_OUTBOX, b, "x", 1), -EINVAL);
                assert_int_equal(store_append(s, STORE_ACTIVATIONS, b, "x", 1), -EINVAL);
                assert_int_equal(store_read(s, STORE_OUTBOX, b, 10, &buf, NULL), -EINVAL);
                assert_int_equal(store_remove(s, STORE_OUTBOX, b), -EINVAL);
                assert_int_equal(store_reject(s, b, "r"), -EINVAL);
                assert_int_equal(store_consume(s, b), -EINVAL);
                assert_int_equal(store_case_relpath(s, b, rel, sizeof(rel)), -EINVAL);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
                assert_int_equal(store_write_atomic(s, STORE_CASES, bad_cases[i], "x", 1), -EINVAL);
                assert_int_equal(store_read(s, STORE_CASES, bad_cases[i], 10, &buf, NULL), -EINVAL);
        }
        /* The bucket form belongs to cases/ only. */
        assert_int_equal(store_case_relpath(s, "r", rel, sizeof(rel)), 0);
        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, rel, "x", 1), -EINVAL);

        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, NULL, "x", 1), -EINVAL);
        assert_int_equal(store_reject(s, NULL, "r"), -EINVAL);
        assert_int_equal(store_reject(s, "ok", NULL), -EINVAL);
        /* The folder must be one of ours. */
        assert_int_equal(store_write_atomic(s, _STORE_DIR_MAX, "x", "x", 1), -EINVAL);
        assert_int_equal(store_write_atomic(s, (enum store_dir) -1, "x", "x", 1), -EINVAL);
        assert_int_equal(store_list_incoming(s, &v, NULL), -EINVAL);
        assert_int_equal(store_list_incoming(s, NULL, &n), -EINVAL);
        assert_null(buf);

        assert_int_equal(store_open("", &s, NULL), -EINVAL);
        assert_int_equal(store_open(NULL, &s, NULL), -EINVAL);
        assert_int_equal(count_entries(f, "outbox"), 0);
        assert_int_equal(count_entries(f, "tmp"), 0);
        store_free(s);
        store_free(NULL);
}

static void test_open_refuses_file_as_root(void **state) {
        struct fixture *f = *state;
        struct store *s = NULL;

        _cleanup_close_ int fd = open(f->root, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(store_open(f->root, &s, NULL), -ENOTDIR);
        assert_null(s);
}

static void test_free_bytes(void **state) {
        struct fixture *f = *state;
        struct store *s = open_store(f, NULL);

        assert_true(store_free_bytes(s) > 0);
        store_free(s);
}

/* ENOSPC is temporary: the write fails cleanly and what was there survives. */
static void test_enospc(void **state) {
        struct fixture *f = *state;
        const size_t big = 1 << 20;
        _cleanup_free_ char *data = NULL;
        struct store *s;
        struct stat st;
        int64_t avail;

        if (geteuid() != 0)
                skip();
        assert_int_equal(mkdir(f->root, 0750), 0);
        if (mount("tmpfs", f->root, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") < 0)
                skip(); /* no CAP_SYS_ADMIN here (container, user namespace) */
        f->mounted = true;

        s = open_store(f, NULL);
        avail = store_free_bytes(s);
        assert_true(avail > 0 && avail <= 64 * 1024);

        data = malloc(big);
        assert_non_null(data);
        memset(data, 'z', big);

        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "m", "old", 3), 0);
        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "m", data, big), -ENOSPC);
        assert_content(s, STORE_OUTBOX, "m", "old");
        assert_int_equal(store_create_atomic(s, STORE_OUTBOX, "n", data, big), -ENOSPC);
        assert_false(exists(f, "outbox/n"));
        assert_int_equal(count_entries(f, "tmp"), 0);

        /* A failed append is cut off again: the log ends on a record. */
        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "a.log", "rec1\n", 5), 0);
        assert_int_equal(store_append(s, STORE_ACTIVATIONS, "a.log", data, big), -ENOSPC);
        assert_content(s, STORE_ACTIVATIONS, "a.log", "rec1\n");
        assert_int_equal(fstatat(store_dirfd(s, STORE_ACTIVATIONS), "a.log", &st, 0), 0);
        assert_int_equal(st.st_size, 5);

        /* A refused first record of a deferred log: no log, the spare
         * gone from tmp/, nothing to put back at the next open (crash
         * point 5 in store.c). */
        assert_int_equal(store_prepare_spare(s), 0);
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "d.log", data, big), -ENOSPC);
        assert_false(store_has_spare(s));
        assert_false(exists(f, "activations/d.log"));
        assert_int_equal(count_entries(f, "tmp"), 0);

        /* And the space is back for small writes. */
        assert_int_equal(store_write_atomic(s, STORE_OUTBOX, "m", "new", 3), 0);
        assert_content(s, STORE_OUTBOX, "m", "new");
        assert_int_equal(store_prepare_spare(s), 0);
        assert_int_equal(store_append_deferred(s, STORE_ACTIVATIONS, "d.log", "rec\n", 4), 0);
        assert_content(s, STORE_ACTIVATIONS, "d.log", "rec\n");
        store_free(s);
}

/* A second store on the same spool is refused while the first is open, and
 * allowed once it is closed (flock is per open file description, so this
 * works within one process too). */
static void test_one_daemon_per_spool(void **state) {
        struct fixture *f = *state;
        struct store *a = NULL, *b = NULL;

        assert_int_equal(store_open(f->root, &a, NULL), 0);
        assert_int_equal(store_open(f->root, &b, NULL), -EBUSY);
        assert_null(b);
        store_free(a);
        assert_int_equal(store_open(f->root, &b, NULL), 0);
        store_free(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_layout_modes_umask022, setup, teardown),
                cmocka_unit_test_setup_teardown(test_layout_modes_umask077, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stale_tmp_removed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_retention_sweep, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_atomic_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spare, setup, teardown),
                cmocka_unit_test_setup_teardown(test_spare_recovery, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_atomic_refuses_existing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_append, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read, setup, teardown),
                cmocka_unit_test_setup_teardown(test_case_bucket, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reject_long_name, setup, teardown),
                cmocka_unit_test_setup_teardown(test_consume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_list_incoming, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
                cmocka_unit_test_setup_teardown(test_open_refuses_file_as_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_daemon_per_spool, setup, teardown),
                cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
                cmocka_unit_test_setup_teardown(test_case_folders, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

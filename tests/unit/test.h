/* test.h - what the unit tests share: a temporary folder made for a test and
 * removed after it (KEEP_TMP=1 keeps it, to look at after a failure), files
 * written from text, and a configuration loaded from text that must have no
 * errors. Include after <cmocka.h>. */
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "macro.h"

/* U(Y, MO, D, H, MI): that UTC instant in usec, from the C library
 * (independent of the code under test). */
static inline uint64_t U(int y, int mo, int d, int h, int mi) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi };
        return (uint64_t) timegm(&tm) * USEC_PER_SEC;
}

/* test_dir_make(BUF, NAME): a fresh folder $TMPDIR/NAME.XXXXXX (default
 * /tmp) in BUF, a char array. */
#define test_dir_make(buf, name) test_dir_make_sized((buf), sizeof(buf), (name))

static inline void test_dir_make_sized(char *buf, size_t size, const char *name) {
        const char *t = getenv("TMPDIR");

        assert_true((size_t) snprintf(buf, size, "%s/%s.XXXXXX", t && *t ? t : "/tmp", name) < size);
        assert_non_null(mkdtemp(buf));
}

static inline int test_rm_entry(const char *path, _unused_ const struct stat *st, int flag,
                                _unused_ struct FTW *ftw) {
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove DIR and everything in it (not across mounts or links); 0 or -1. */
static inline int test_dir_remove(const char *dir) {
        if (getenv("KEEP_TMP"))
                return 0;
        return nftw(dir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

/* Write TEXT to DIR/NAME with MODE; returns the path (the caller frees). */
static inline char *test_write_file(const char *dir, const char *name, const char *text, mode_t mode) {
        char *path;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, mode), 0);
        return path;
}

/* Load TEXT as DIR/NAME, which must be free of errors (they are printed). */
static inline struct config *test_config_from_text(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *path = test_write_file(dir, name, text, 0644);
        struct errlist errs = {};
        struct config *c = config_load(path, &errs);

        for (size_t i = 0; i < errs.n; i++)
                print_message("unexpected: %s\n", errs.v[i]);
        assert_int_equal(errs.n, 0);
        assert_non_null(c);
        errlist_free(&errs);
        return c;
}

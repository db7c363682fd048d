/* config-secret.c - secrets named by *_file settings: found in
 * $CREDENTIALS_DIRECTORY or beside the configuration, refused when others
 * may read or change them, read whole and wiped when freed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config-load.h"
#include "macro.h"

#define SECRET_MAX (64 * 1024)

/* The folder secret file PATH really is in (a symlink from a safe folder
 * into an unsafe one does not make it safe) must be root's or ours and not
 * writable by group or others. 0, or -errno with the reason in ERRBUF. */
static int secret_folder_ok(const char *path, const char *name, char *errbuf, size_t errlen) {
        _cleanup_free_ char *dir = realpath(path, NULL);
        struct stat dst;

        if (!dir && !(dir = strdup(path))) {
                snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                return -ENOMEM;
        }
        char *sl = strrchr(dir, '/');
        const char *folder = !sl ? "." : sl == dir ? "/" : dir;
        if (sl && sl != dir)
                *sl = '\0';
        if (stat(folder, &dst) < 0) {
                int r = negative_errno();
                snprintf(errbuf, errlen, "\"%s\": cannot stat the folder %s: %s", name, folder, strerror(-r));
                return r;
        }
        if (dst.st_uid != 0 && dst.st_uid != geteuid()) {
                snprintf(errbuf, errlen, "\"%s\": the folder %s is owned by uid %u, not by root or beredd's user (uid %u)",
                         name, folder, (unsigned) dst.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        if (dst.st_mode & 0022) {
                snprintf(errbuf, errlen, "\"%s\": the folder %s is writable by %s (mode %04o); chmod go-w it", name,
                         folder, dst.st_mode & 0002 ? "others" : "its group", (unsigned) (dst.st_mode & 07777));
                return -EPERM;
        }
        return 0;
}

static int read_secret_file(const char *path, const char *name, char **ret, char *errbuf, size_t errlen) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t n = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                int r = negative_errno();
                snprintf(errbuf, errlen, "\"%s\": cannot open %s: %s", name, path, strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0) {
                int r = negative_errno();
                snprintf(errbuf, errlen, "\"%s\": cannot stat %s: %s", name, path, strerror(-r));
                return r;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(errbuf, errlen, "\"%s\": %s is not a regular file", name, path);
                return -EINVAL;
        }
        /* Whoever can replace a secret can redirect our messages or answer
         * for the team: the file must be root's or ours, writable by its
         * owner only, in a folder that nobody else can write either (a
         * sticky world-writable folder such as /tmp is refused too). */
        if (st.st_uid != 0 && st.st_uid != geteuid()) {
                snprintf(errbuf, errlen, "\"%s\": %s is owned by uid %u, not by root or beredd's user (uid %u); chown it",
                         name, path, (unsigned) st.st_uid, (unsigned) geteuid());
                return -EPERM;
        }
        if (st.st_mode & 0022) {
                snprintf(errbuf, errlen, "\"%s\": %s is writable by %s (mode %04o); chmod %04o", name, path,
                         st.st_mode & 0002 ? "others" : "its group", (unsigned) (st.st_mode & 07777),
                         (unsigned) (st.st_mode & 07700));
                return -EPERM;
        }
        int fr = secret_folder_ok(path, name, errbuf, errlen);
        if (fr < 0)
                return fr;
        /* A secret others can read is already leaked; one they can write lets
         * them redirect our messages. Refuse both rather than warn. */
        if (st.st_mode & 0007) {
                snprintf(errbuf, errlen, "\"%s\" is readable by others (mode %04o); chmod %04o", name,
                         (unsigned) (st.st_mode & 07777), (unsigned) (st.st_mode & 07770));
                return -EPERM;
        }
        if (st.st_size > SECRET_MAX) {
                snprintf(errbuf, errlen, "\"%s\" is larger than 64 KiB", name);
                return -EFBIG;
        }

        buf = malloc(SECRET_MAX + 1);
        if (!buf) {
                snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                return -ENOMEM;
        }
        for (;;) {
                ssize_t k = read(fd, buf + n, SECRET_MAX + 1 - n);
                if (k < 0) {
                        int r;
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        snprintf(errbuf, errlen, "\"%s\": cannot read %s: %s", name, path, strerror(-r));
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > SECRET_MAX) {
                        snprintf(errbuf, errlen, "\"%s\" is larger than 64 KiB", name);
                        return -EFBIG;
                }
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        buf[n] = '\0';
        if (n == 0) {
                snprintf(errbuf, errlen, "\"%s\" is empty", name);
                return -EINVAL;
        }
        if (strlen(buf) != n) {
                snprintf(errbuf, errlen, "\"%s\" contains a NUL byte", name);
                return -EINVAL;
        }

        *ret = TAKE_PTR(buf);
        return 0;
}

int config_read_secret(const char *config_path, const char *name, char **ret, char *errbuf, size_t errlen) {
        _cleanup_free_ char *path = NULL;
        const char *creds, *slash;

        if (!name || !*name || streq(name, ".") || streq(name, "..") || cfg_has_ctrl(name)) {
                snprintf(errbuf, errlen, "bad secret file name");
                return -EINVAL;
        }
        if (name[0] == '/')
                return read_secret_file(name, name, ret, errbuf, errlen);
        /* A relative name is a credential name, not a path: "../x" or "a/b"
         * would escape the credentials folder. */
        if (strchr(name, '/')) {
                snprintf(errbuf, errlen, "\"%s\": a relative secret name must not contain '/'", name);
                return -EINVAL;
        }

        creds = getenv("CREDENTIALS_DIRECTORY");
        if (creds && *creds) {
                if (asprintf(&path, "%s/%s", creds, name) < 0) {
                        path = NULL;
                        snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                        return -ENOMEM;
                }
                if (access(path, F_OK) == 0)
                        return read_secret_file(path, name, ret, errbuf, errlen);
                free(path);
                path = NULL;
        }

        slash = config_path ? strrchr(config_path, '/') : NULL;
        if (slash) {
                if (asprintf(&path, "%.*s/%s", (int) (slash - config_path), config_path, name) < 0)
                        path = NULL;
        } else
                path = strdup(name); /* the config file is in the working folder */
        if (!path) {
                snprintf(errbuf, errlen, "\"%s\": out of memory", name);
                return -ENOMEM;
        }
        if (access(path, F_OK) < 0 && errno == ENOENT) {
                if (creds && *creds)
                        snprintf(errbuf, errlen, "\"%s\" not found in %s nor as %s", name, creds, path);
                else
                        snprintf(errbuf, errlen, "\"%s\" not found (looked for %s)", name, path);
                return -ENOENT;
        }
        return read_secret_file(path, name, ret, errbuf, errlen);
}

void cfg_load_secret(struct loader *l, const config_setting_t *s, const char *name, char **ret) {
        char err[512];

        if (config_read_secret(l->path, name, ret, err, sizeof err) < 0)
                cfg_fail(l, s, "%s", err);
}

/* Wipe and free a secret (NULL is fine). */
void cfg_secret_free(char *s) {
        if (s) {
                explicit_bzero(s, strlen(s));
                free(s);
        }
}

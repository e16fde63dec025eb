/*
 * fuzz_tmpdir.h - a private temporary directory for a fuzz target (on
 * tmpfs when there is one), removed with its contents when the process exits.
 */
#ifndef EF_FUZZ_TMPDIR_H
#define EF_FUZZ_TMPDIR_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_tmpdir_path[64];

static int fuzz_tmpdir_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void fuzz_tmpdir_cleanup(void)
{
    nftw(fuzz_tmpdir_path, fuzz_tmpdir_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates /dev/shm/<name>-XXXXXX (or under /tmp); returns its path, NULL on failure. */
static const char *fuzz_tmpdir(const char *name)
{
    struct stat st;
    snprintf(fuzz_tmpdir_path, sizeof(fuzz_tmpdir_path), "%s/%s-XXXXXX",
             stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp", name);
    if (!mkdtemp(fuzz_tmpdir_path)) {
        return NULL;
    }
    atexit(fuzz_tmpdir_cleanup);
    return fuzz_tmpdir_path;
}

#endif

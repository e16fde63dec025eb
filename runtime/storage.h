/*
 * storage.h - atomic file writes and whole-file reads.
 */
#ifndef EF_STORAGE_H
#define EF_STORAGE_H

#include <stddef.h>

/*
 * Writes data to path atomically: a temp file in the same folder, fsync,
 * rename over the old file (which is first kept as path.backup when `backup`),
 * then fsync of the folder. Creates missing folders. Returns 0 or EF_EIO.
 */
int storage__write_atomic(const char *path, const void *data, size_t len, int backup);
/*
 * Reads a whole file (at most max bytes) into a malloc'ed NUL-terminated
 * buffer. Returns NULL with errno set on failure (EFBIG when too large).
 */
char *storage__read_file(const char *path, size_t max, size_t *len);
/* mkdir -p; 0 or EF_EIO. */
int storage__mkdirs(const char *path);

#endif

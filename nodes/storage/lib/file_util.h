/*
 * file_util.h - what the file and file in nodes share: the encodings they
 * offer as iconv-lite does them (utf8, binary/latin1, hex, base64, and
 * "none" for Node's default), Node.js's texts for file system errors, the
 * filename typed input with Node-RED's legacy defaults, and mkdir -p.
 */
#ifndef EF_NODES_FILE_UTIL_H
#define EF_NODES_FILE_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/node.h>

/* Whether fu__encode/fu__decode know `enc` ("none" included). */
bool fu__encoding_known(const char *enc);
/*
 * iconv.encode(str, enc) (Buffer.from(str) for "none"): the bytes written
 * for a string. Malloc'ed (length in *outlen); NULL on OOM.
 */
char *fu__encode(const char *s, size_t len, const char *enc, size_t *outlen);
/* iconv.decode(buf, enc) (buf.toString() for "none") as a new string value. */
struct ef_val *fu__decode(const void *data, size_t len, const char *enc);
/*
 * Node's err.toString() for a libuv error from `syscall` on `path`, e.g.
 * "Error: ENOENT: no such file or directory, open '/tmp/x'"; path NULL leaves the
 * path out (errors of calls on a file descriptor, "..., write").
 */
void fu__err_text(char *buf, size_t len, int uverr, const char *syscall, const char *path);
/* The Error object Node reports ({errno, code, syscall, path}) as a value. */
struct ef_val *fu__err_obj(int uverr, const char *syscall, const char *path);
/*
 * Evaluates the node's filename typed input for msg as Node-RED does (an
 * empty filenameType means msg.filename when filename is "", else a string).
 * Returns a malloc'ed string ("" when unset) or NULL with the error in err.
 */
char *fu__filename(struct ef_node *n, const char *filename, const char *type,
                   const struct ef_msg *msg, char *err, size_t errlen);
/* fs.ensureDirSync: creates dir and its parents. 0 or a negative errno (libuv style). */
int fu__mkdir_p(const char *dir);

#endif

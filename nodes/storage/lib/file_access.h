/*
 * file_access.h - the settings that say where the file, file in and watch
 * nodes may go: fileWorkingDirectory (Node-RED's: relative file names are
 * taken from there) and fileAllowedDirectories (edgeflow's: a list of
 * directories; a path outside all of them, once `..` and symbolic links
 * are resolved, is refused). Both unset: any path, as in Node-RED.
 */
#ifndef EF_NODES_FILE_ACCESS_H
#define EF_NODES_FILE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include <edgeflow/node.h>

/*
 * The path a node opens for `filename`: joined to fileWorkingDirectory and
 * normalised when that is set and filename is relative (path.resolve),
 * else filename itself. Malloc'ed; NULL on OOM.
 */
char *file_access__full_path(struct ef_node *n, const char *filename);
/*
 * Whether node n may touch `path` (already through file_access__full_path).
 * The path is made absolute, its longest existing prefix is resolved with
 * realpath (symbolic links, `..`) and the rest is normalised; it must then
 * lie in (or be) one of the allowed directories (resolved alike). When it
 * is refused, or the setting is malformed, returns false with a message
 * naming the path in err.
 */
bool file_access__allowed(struct ef_node *n, const char *path, char *err, size_t errlen);

#endif

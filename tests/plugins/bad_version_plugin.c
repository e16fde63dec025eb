/* bad_version_plugin.c - a test plugin that only speaks a future ABI (99). */
#include <edgeflow/edgeflow.h>

int ef_plugin_version(int n, const int *supported)
{
    (void)n;
    (void)supported;
    return 99;
}

int ef_plugin_init(struct ef_plugin *p)
{
    (void)p;
    return 0;
}

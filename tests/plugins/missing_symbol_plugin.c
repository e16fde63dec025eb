/* missing_symbol_plugin.c - a test plugin without ef_plugin_init. */
int ef_plugin_version(int n, const int *supported)
{
    (void)n;
    return supported[0];
}

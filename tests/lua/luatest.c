/*
 * luatest.c - runs one Lua flow case: tests/flows/flowtest.c's harness
 * (same case format, see its header) with the plugins the build made loaded
 * first, as the edgeflow binary loads them: <build>/plugins (lua.so) and
 * <build>/plugins/examples (the example C plugin and Lua node types). The
 * binary exports the SDK symbols like edgeflow does, so the real lua.so is
 * tested through the real loader.
 */
#include <string.h>
#include <unistd.h>

#define main flowtest_main
#include "../flows/flowtest.c"
#undef main

/* Loads the build's plugin directories, then runs the case as flowtest does. */
int main(int argc, char **argv)
{
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 64);
    if (len <= 0) {
        return 2;
    }
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) {
        return 2;
    }
    strcpy(slash, "/../../plugins"); /* <build>/tests/lua/luatest -> <build>/plugins */
    if (registry__init_builtins() != 0 || registry__load_dir(exe) < 1) {
        fprintf(stderr, "luatest: cannot load the Lua plugin from %s\n", exe);
        return 2;
    }
    strcat(exe, "/examples");
    registry__load_dir(exe);
    return flowtest_main(argc, argv);
}

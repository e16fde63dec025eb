/*
 * alerttest.c - runs one alert flow case: tests/flows/flowtest.c's harness
 * (same case format, see its header) with the build's default plugin
 * directory (<build>/plugins, where alert.so is) loaded first through the
 * real loader, as the edgeflow binary loads it.
 */
#include <string.h>
#include <unistd.h>

#define main flowtest_main
#include "../../flows/flowtest.c"
#undef main

int main(int argc, char **argv)
{
    char dir[4096];
    ssize_t len = readlink("/proc/self/exe", dir, sizeof(dir) - 64);
    if (len <= 0) {
        return 2;
    }
    dir[len] = 0;
    char *slash = strrchr(dir, '/');
    if (!slash) {
        return 2;
    }
    /* <build>/tests/plugins/alert/alerttest -> <build>/plugins */
    strcpy(slash, "/../../../plugins");
    if (registry__init_builtins() != 0 || registry__load_dir(dir) < 1 || !registry__find("alert")) {
        fprintf(stderr, "alerttest: cannot load alert.so from %s\n", dir);
        return 2;
    }
    return flowtest_main(argc, argv);
}

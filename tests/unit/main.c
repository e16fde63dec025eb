/*
 * main.c - runs the CUnit suites: all of them, or those named on the command
 * line. The exit status is the number of failures (CU_basic_run_tests()
 * itself reports success even when tests fail).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "suites.h"

int main(int argc, char **argv)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        return 1;
    }
    for (const struct ef_unit_suite *s = ef_unit_suites; s->name; s++) {
        int wanted = argc < 2;
        for (int i = 1; i < argc; i++) {
            if (strcmp(argv[i], s->name) == 0) {
                wanted = 1;
            }
        }
        if (wanted && s->init() != 0) {
            fprintf(stderr, "cannot register suite %s\n", s->name);
            CU_cleanup_registry();
            return 1;
        }
    }
    for (int i = 1; i < argc; i++) { /* a name that matches no suite is an error, not a pass */
        bool known = false;
        for (const struct ef_unit_suite *s = ef_unit_suites; s->name; s++) {
            known = known || strcmp(argv[i], s->name) == 0;
        }
        if (!known) {
            fprintf(stderr, "no suite named %s\n", argv[i]);
            CU_cleanup_registry();
            return 1;
        }
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    return failed > 255 ? 255 : (int)failed;
}

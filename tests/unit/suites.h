/* suites.h - the table of unit-test suites, generated into suites.c. */
#ifndef EF_TEST_SUITES_H
#define EF_TEST_SUITES_H

struct ef_unit_suite {
    const char *name;
    int (*init)(void);
};
extern const struct ef_unit_suite ef_unit_suites[];

#endif

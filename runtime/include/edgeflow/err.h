/*
 * err.h - edgeflow error codes.
 *
 * Functions that can fail return an int: 0 on success, a negative EF_E* code
 * on failure (the libuv convention). ef_strerror() gives the text.
 */
#ifndef EDGEFLOW_ERR_H
#define EDGEFLOW_ERR_H

#define EF_OK 0
#define EF_ENOMEM (-1)   /* out of memory */
#define EF_EINVAL (-2)   /* invalid argument or input */
#define EF_ENOENT (-3)   /* no such item */
#define EF_ETYPE (-4)    /* value has the wrong type */
#define EF_ERANGE (-5)   /* out of range / limit exceeded */
#define EF_EIO (-6)      /* file or socket error */
#define EF_EPARSE (-7)   /* syntax error in input */
#define EF_EEXIST (-8)   /* already exists */
#define EF_EVERSION (-9) /* ABI version not supported */
#define EF_ESTATE (-10)  /* operation not valid in the current state */
#define EF_EFULL (-11)   /* queue full */
#define EF_EUNSUPP (-12) /* not supported */

/* Returns a static English description of an EF_E* code; never NULL. */
const char *ef_strerror(int err);

#endif

/*
 * schema.h - the JSON Schema subset the ai tool node checks a model's tool
 * arguments against before a flow sees them (docs/ai-agent.md lists it):
 * type (one name or a list), enum, const, properties, required,
 * additionalProperties (boolean or schema), items (one schema), minItems,
 * maxItems, minLength, maxLength, minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum. Annotations (title, description, default, examples,
 * format, $schema, $id, $comment) are accepted and not checked.
 */
#ifndef EF_AI_SCHEMA_H
#define EF_AI_SCHEMA_H

#include <stddef.h>

#include <edgeflow/val.h>

/*
 * Checks that `schema` (borrowed) is an object whose known keywords have the
 * right shapes, recursively. Returns 0, or EF_EINVAL with the reason, naming
 * the keyword's place ("properties.city.type: ..."), in err. Keywords outside
 * the subset do not fail the check: their names (comma separated, each with
 * its place) go into `unsupported` (may be NULL) so the caller can warn that
 * they are not enforced.
 */
int schema__check(const struct ef_val *schema, char *err, size_t errlen, char *unsupported,
                  size_t unsupported_len);

/*
 * Validates `v` against `schema` (both borrowed; the schema passed
 * schema__check). `root` names the value in messages ("arguments"). Returns
 * 0 when valid, else EF_EINVAL with the first violation in err, such as
 * "arguments.unit: must be one of \"c\", \"f\"".
 */
int schema__validate(const struct ef_val *schema, const struct ef_val *v, const char *root,
                     char *err, size_t errlen);

#endif

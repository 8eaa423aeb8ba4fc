/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <strings.h>
#include "macro.h"

/*
 * Enum <-> string tables. Each enum ends with _FOO_MAX and _FOO_INVALID = -EINVAL;
 * DEFINE_STRING_TABLE(foo, Foo) gives foo_to_string() and foo_from_string().
 */
#define DEFINE_STRING_TABLE(name, type)                                         \
        const char *name##_to_string(type i) {                                  \
                if ((int) i < 0 || (size_t) i >= ELEMENTSOF(name##_table))      \
                        return NULL;                                            \
                return name##_table[i];                                         \
        }                                                                       \
        type name##_from_string(const char *s) {                                \
                if (!s)                                                         \
                        return (type) -EINVAL;                                  \
                for (size_t i = 0; i < ELEMENTSOF(name##_table); i++)           \
                        if (name##_table[i] && streq(name##_table[i], s))       \
                                return (type) i;                                \
                return (type) -EINVAL;                                          \
        }

#define DECLARE_STRING_TABLE(name, type)                \
        const char *name##_to_string(type i);           \
        type name##_from_string(const char *s)

/* division.c — see division.h. */
#include "division.h"

/* 32-bit FNV-1a: simple, stable across versions and platforms (the division is shared by
 * processes that may run different builds). */
static uint32_t fnv1a(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

int km_division_task(const char *topic, int32_t partition, int ntasks) {
    return (int)(((uint64_t)fnv1a(topic) % (uint64_t)ntasks + (uint64_t)partition) % (uint64_t)ntasks);
}

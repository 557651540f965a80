/* fuzz_clientstats.c — the last stable offsets read from a consumer's statistics document
 * (clientstats.h). librdkafka writes the document, but the reader must not trust its shape: any
 * input gives NULL or entries whose partitions are numbers >= 0, each entry's topic one of the
 * list's names, a topic's entries next to each other; and nothing leaks. */
#include "fuzz.h"
#include "clientstats.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    km_lsos_t *l = km_cstats_read_lsos((const char *)data, size);
    if (!l) return 0;
    FZ_CHECK(l->n > 0 && l->ntopics > 0 && l->ntopics <= l->n);
    size_t topic = 0;
    for (size_t i = 0; i < l->n; i++) {
        FZ_CHECK(l->v[i].partition >= 0);
        if (l->v[i].topic != l->topics[topic]) topic++; /* the next topic's entries begin */
        FZ_CHECK(topic < l->ntopics && l->v[i].topic == l->topics[topic]);
    }
    FZ_CHECK(topic == l->ntopics - 1);
    km_lsos_free(l);
    return 0;
}

/* statuspage.c — the status page (src/statuspage.html) compiled into the binary.
 *
 * The assembler's .incbin copies the file into .rodata at build time, so the binary needs no file
 * at run time and the build needs no generator (no xxd, no generated header): the Makefile only
 * lists the HTML as a prerequisite of this object so that an edit of the page rebuilds it. The
 * path is relative to the directory make runs in, the top of the tree. */
#include "statuspage.h"

__asm__(".pushsection .rodata\n"
        ".global km_statuspage_begin, km_statuspage_end\n"
        ".hidden km_statuspage_begin, km_statuspage_end\n"
        "km_statuspage_begin:\n"
        ".incbin \"src/statuspage.html\"\n"
        "km_statuspage_end:\n"
        ".popsection\n");

extern const char km_statuspage_begin[], km_statuspage_end[];

const char *km_statuspage_html(size_t *len) {
    *len = (size_t)(km_statuspage_end - km_statuspage_begin);
    return km_statuspage_begin;
}

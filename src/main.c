/* main.c — placeholder entry point; replaced by the CLI in cli.c. */
#include <stdio.h>
int main(void) { puts("kmirror"); return 0; }

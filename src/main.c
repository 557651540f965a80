/* main.c — the process entry point: everything happens in the CLI (cli.c). */
#include "cli.h"

int main(int argc, char **argv) { return km_cli_main(argc, argv); }

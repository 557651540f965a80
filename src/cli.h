/* cli.h — command-line entry: parses arguments and dispatches to the subcommands. */
#ifndef KM_CLI_H
#define KM_CLI_H

#define KM_VERSION "0.1.0"

int km_cli_main(int argc, char **argv);

#endif

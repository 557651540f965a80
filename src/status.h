/* status.h — `kmirror status`: a running kmirror's /status as a table for a terminal. */
#ifndef KM_STATUS_H
#define KM_STATUS_H

/* `kmirror status --url http://HOST:PORT [--partitions]`; exit status 0 when every flow runs,
 * 1 when not or when the endpoint cannot be read, 2 on a usage error. */
int km_status_main(int argc, char **argv);

#endif

/* demo.h — `kmirror demo`: active/active replication between two local clusters, shown live
 * and checked at the end. */
#ifndef KM_DEMO_H
#define KM_DEMO_H

int km_demo_main(int argc, char **argv);

#endif

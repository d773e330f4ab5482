/*
 * http.h - the HTTP listener: libmicrohttpd, one thread per connection, keep-alive.
 * Collects a size-checked request (raw query kept undecoded, body bounded while it
 * streams) and hands it to fl_api_handle().
 */
#ifndef FL_HTTP_H
#define FL_HTTP_H

#include "api.h"

typedef struct fl_http fl_http_t;

/* Listens on host:port (port 0 = kernel-chosen). Returns FL_OK with *out and the bound port
 * in *port_out, or FL_EINTERNAL (logged). */
int fl_http_start(fl_api_t *api, const char *host, int port, fl_http_t **out /* OUT */,
                  int *port_out /* OUT */);
void fl_http_stop(fl_http_t *h); /* NULL-safe */

#endif

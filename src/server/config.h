/*
 * config.h - flowd's settings: built-in defaults, then the config file (--config or
 * FLOWD_CONFIG, YAML or JSON), then the environment (FLOWD_*), then the command line.
 */
#ifndef FL_CONFIG_H
#define FL_CONFIG_H

#include "api/api.h"

typedef struct {
    const char *listen;    /* HOST:PORT */
    const char *data;      /* data directory */
    const char *store;     /* sqlite:PATH, NULL = DATA/flowd.db */
    const char *region;
    const char *log_level;
    const char *config;    /* the config file, NULL = none */
    size_t max_body;       /* bytes */
    size_t max_payload;    /* bytes */
    fl_rate_t *limits;     /* one per action (fl_api_action_count()) */
    fl_rate_t default_limit;
    json_t *functions;     /* function map (borrowed from file), NULL = none */
    int dispatch_retries, dispatch_backoff_ms, dispatch_timeout_ms, dispatch_per_target;
    json_t *file;          /* the parsed config file, kept for the strings above */
} fl_config_t;

/* Fills cfg from defaults, the config file, the environment and argv. Prints a message
 * and returns -1 on bad input; exits 0 after --help. */
int fl_config_load(fl_config_t *cfg, int argc, char **argv);
void fl_config_close(fl_config_t *cfg);

#endif

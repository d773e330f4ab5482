/*
 * err.c - lookups generated from FL_ERR_MAP in include/flowd/err.h.
 */
#include "flowd/err.h"

struct err_row {
    int status;
    const char *code;
    const char *msg;
};

static const struct err_row rows[] = {
#define FL_ERR_ROW(name, status, code, msg) {status, code, msg},
    FL_ERR_MAP(FL_ERR_ROW)
#undef FL_ERR_ROW
};

static const struct err_row *row_get(int err)
{
    int i = err - FL__ERR_BASE - 1;
    if (i < 0 || i >= (int)(sizeof rows / sizeof rows[0]))
        return &rows[FL_EINTERNAL - FL__ERR_BASE - 1];
    return &rows[i];
}

const char *fl_err_code(int err) { return row_get(err)->code; }
int fl_err_status(int err) { return row_get(err)->status; }
const char *fl_strerror(int err) { return row_get(err)->msg; }

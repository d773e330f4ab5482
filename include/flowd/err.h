/*
 * err.h - the one error table of flowd.
 *
 * FL_ERR_MAP(X) lists every error a flowd function can return and the wire form it takes:
 * X(NAME, http_status, "Code", "message template"). It generates the FL_E* enum (negative,
 * FL_OK = 0), fl_strerror(), fl_err_code() and fl_err_status(). api/reply.c is the only
 * code that turns these into HTTP replies; templates are printf formats filled by handlers.
 */
#ifndef FLOWD_ERR_H
#define FLOWD_ERR_H

#define FL_ERR_MAP(X)                                                                          \
    X(ACTION_NOT_SUPPORTED, 400, "ActionNotSupported",                                        \
      "The requested API operation '%s' is incorrect. Please check.")                         \
    X(API_VERSION_NOT_SUPPORTED, 400, "APIVersionNotSupported",                               \
      "The requested API version '%s' is not supported yet. Please check.")                   \
    X(ENTITY_TOO_LARGE, 400, "EntityTooLarge",                                                \
      "The payload size exceeds maximum allowed size (%s bytes).")                            \
    X(EXECUTION_ALREADY_COMPLETED, 400, "ExecutionAlreadyCompleted",                          \
      "Execution '%s' for flow '%s' has already completed.")                                  \
    X(EXECUTION_ALREADY_EXISTS, 400, "ExecutionAlreadyExists",                                \
      "Execution %s for flow %s already exists.")                                             \
    X(INVALID_ARGUMENT, 400, "InvalidArgument", "Parameter error: %s")                        \
    X(MISSING_REQUIRED_HEADER, 400, "MissingRequiredHeader",                                  \
      "The HTTP header '%s' must be specified.")                                              \
    X(MISSING_REQUIRED_PARAMS, 400, "MissingRequiredParams",                                  \
      "The HTTP query '%s' must be specified.")                                               \
    X(TASK_ALREADY_COMPLETED, 400, "TaskAlreadyCompleted", "Task %s has already completed.")   \
    X(SIGNATURE_NONCE_USED, 400, "SignatureNonceUsed",                                        \
      "Specified signature nonce was used already.")                                          \
    X(ACCESS_DENIED, 403, "AccessDenied", "The resources doesn't belong to you.")              \
    X(INVALID_ACCESS_KEY_ID, 403, "InvalidAccessKeyID", "The AccessKey ID %s is invalid.")     \
    X(REQUEST_TIME_TOO_SKEWED, 403, "RequestTimeTooSkewed",                                   \
      "The difference between the request time %s and the current time %s is too large.")    \
    X(SIGNATURE_NOT_MATCH, 403, "SignatureNotMatch",                                          \
      "The request signature we calculated does not match the signature you provided. "       \
      "Check your access key and signing method.")                                            \
    X(ACCOUNT_NOT_EXISTS, 404, "AccountNotExists", "Account %s does not exist.")             \
    X(USER_NOT_EXISTS, 404, "UserNotExists", "User %s does not exist in account %s.")          \
    X(ACCESS_KEY_NOT_EXISTS, 404, "AccessKeyNotExists",                                       \
      "AccessKey %s does not exist in account %s.")                                           \
    X(POLICY_NOT_EXISTS, 404, "PolicyNotExists",                                              \
      "Policy %s is not attached to user %s.")                                                \
    X(EXECUTION_NOT_EXISTS, 404, "ExecutionNotExists", "Execution %s for flow %s does not exist.") \
    X(FLOW_NOT_EXISTS, 404, "FlowNotExists", "Flow %s does not exist.")                        \
    X(NOT_FOUND, 404, "NotFound", "The requested path '%s' does not exist.")                   \
    X(METHOD_NOT_ALLOWED, 405, "MethodNotAllowed", "The HTTP method '%s' is not allowed.")     \
    X(ACCOUNT_ALREADY_EXISTS, 409, "AccountAlreadyExists", "Account %s already exists.")       \
    X(USER_ALREADY_EXISTS, 409, "UserAlreadyExists", "User %s already exists in account %s.") \
    X(CONCURRENT_UPDATE, 409, "ConcurrentUpdateError", "Update conflict, please retry.")       \
    X(FLOW_ALREADY_EXISTS, 409, "FlowAlreadyExists", "Flow %s already exists.")                \
    X(TASK_INVALID_STATE, 409, "TaskInvalidState", "Task is in an invalid state, please retry.") \
    X(PRECONDITION_FAILED, 412, "PreconditionFailed",                                         \
      "The resource to be modified has been changed.")                                        \
    X(UNSUPPORTED_MEDIA_TYPE, 415, "UnsupportedMediaType",                                    \
      "The content type must be \"application/json\".")                                       \
    X(RESOURCE_THROTTLED, 429, "ResourceThrottled",                                           \
      "The request is throttled. Please try again later.")                                    \
    X(INTERNAL, 500, "InternalServerError", "An internal error has occurred. Please retry.")   \
    X(UNAVAILABLE, 503, "ServiceUnavailable", "The service is unavailable. Please retry.")

typedef enum {
    FL_OK = 0,
    FL__ERR_BASE = -1000,
#define FL_ERR_ENUM(name, status, code, msg) FL_E##name,
    FL_ERR_MAP(FL_ERR_ENUM)
#undef FL_ERR_ENUM
    FL__ERR_END
} fl_err_t;

/* Returns the wire code ("InvalidArgument") of err, or "InternalServerError" if unknown. */
const char *fl_err_code(int err);
/* Returns the HTTP status of err (500 if unknown). */
int fl_err_status(int err);
/* Returns the message template of err (a printf format). */
const char *fl_strerror(int err);

#endif

/*
 * aws_creds.h - AWS credentials, found the way AWS's own tools look:
 *   1. an explicit file (a sink's s3.credentials_file), in the shared
 *      credentials format: [PROFILE] with aws_access_key_id,
 *      aws_secret_access_key and optionally aws_session_token;
 *   2. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN);
 *   3. the shared credentials file: AWS_SHARED_CREDENTIALS_FILE, else
 *      $HOME/.aws/credentials.
 * The profile is AWS_PROFILE, else "default". No instance metadata, SSO
 * or assume-role: see README.md.
 *
 * A secret is only ever copied into struct sl_aws_creds; nothing here
 * logs one, and error messages name files and variables, never values.
 *
 * Threads: sl_aws_creds_load reads the environment; call it from the main
 * thread (sink creation).
 */
#ifndef SL_AWS_CREDS_H
#define SL_AWS_CREDS_H

#include <stddef.h>

struct sl_aws_creds {
    char access_key[128];
    char secret_key[128];
    char session_token[2048];     /* "" when none */
    char source[320];             /* where they came from, for logs */
};

/* Fills <c> from <file> (NULL or "": skip step 1), then the environment,
 * then the shared file. SL_OK, or an error with <err> saying what was
 * looked at. */
int sl_aws_creds_load(const char *file, struct sl_aws_creds *c, char *err, size_t errlen);

#endif

/*
 * ksay.h - the KMS modules' one way to fill a caller's message buffer:
 * kms_say(why, why_len, fmt, ...), a no-op when why is NULL or why_len 0
 * (callers that do not want the message pass NULL).
 */
#ifndef KMS_KSAY_H
#define KMS_KSAY_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline void kms_say(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void
kms_say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || why_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

#endif

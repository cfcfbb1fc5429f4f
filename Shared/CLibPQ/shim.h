#ifndef ASNREWARD_CLIBPQ_SHIM_H
#define ASNREWARD_CLIBPQ_SHIM_H

// libpq's header lives in different places on Debian (postgresql/) and elsewhere; pkg-config adds the include path.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#elif __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
#else
#error "libpq-fe.h not found: install libpq-dev"
#endif

#endif

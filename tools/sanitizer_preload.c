/*-------------------------------------------------------------------------
 *
 * sanitizer_preload.c
 *		Preloaded after the AddressSanitizer runtime into a server that
 *		is not built with ASan (tools/sanitizer_postgres.sh): lets that
 *		runtime start up without deadlocking.
 *
 * A preloaded ASan runtime initializes itself on the first call it
 * intercepts.  In Debian's server, that call is a malloc() inside
 * newlocale() or bindtextdomain(), made by a library constructor (p11-kit's,
 * through libldap and GnuTLS) while glibc holds its locale lock for writing.
 * The runtime's start-up looks up the optional symbol swift_demangle with
 * dlsym() and, when it is missing, calls dlerror(), which translates the
 * message and so takes the same lock for reading: the lock's reader count
 * goes negative and the next setlocale(), bindtextdomain() or freelocale()
 * waits forever (every server, psql too, hangs at start or exit).
 *
 * Defining swift_demangle makes the lookup succeed, so dlerror() has no
 * message to translate.  The runtime calls it only to demangle Swift names
 * in reports; returning NULL means "not a Swift name".
 *
 *-------------------------------------------------------------------------
 */
#include <stddef.h>

extern char *swift_demangle(const char *mangled, size_t mangled_len,
							char *out, size_t *out_len, unsigned int flags);

char *
swift_demangle(const char *mangled, size_t mangled_len,
			   char *out, size_t *out_len, unsigned int flags)
{
	return NULL;
}

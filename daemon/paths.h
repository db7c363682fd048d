/* paths.h - the installed paths beredd and beredctl agree on. RUNSTATEDIR
 * comes from configure (-DRUNSTATEDIR in Makefile.am; /run by default). */
#pragma once

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

/* The control socket, unless -s / $BEREDD_SOCKET names another. */
#define DEFAULT_SOCKET RUNSTATEDIR "/beredd/control"

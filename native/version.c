/*
 * version.c: the library's version at run time, to compare with the header's at build time.
 */
#include "qbtrigger.h"

const char *qbt_version(void) { return QBT_VERSION_STRING; }

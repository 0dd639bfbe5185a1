#ifndef LOGFLUME_IGZIP_CHUNK_H
#define LOGFLUME_IGZIP_CHUNK_H

#include <stddef.h>

/// An ISA-L igzip compressor for one level: its stream state (large, so on the heap, not on a
/// worker thread's stack) and the level's hash buffer. Only one thread uses it at a time.
typedef struct logflume_igzip logflume_igzip;

/// A compressor for ISA-L level 0-3; NULL for another level or when memory ran out.
logflume_igzip *logflume_igzip_create(int level);
void logflume_igzip_free(logflume_igzip *compressor);

/// Room that always holds a gzip member of `length` input bytes, stored blocks included.
size_t logflume_igzip_bound(size_t length);

/// `*status` when the input or the output space is 4 GiB or more (ISA-L counts in 32 bits).
#define LOGFLUME_IGZIP_TOO_LARGE 1

/// Compresses `length` bytes into one gzip member (RFC 1952, mtime 0, no name) in `output`.
/// Returns the member's size, or 0 when ISA-L refused (`*status` holds its code, negative) or
/// the sizes were too large (`LOGFLUME_IGZIP_TOO_LARGE`).
size_t logflume_igzip_compress(logflume_igzip *compressor, const void *input, size_t length,
                               void *output, size_t capacity, int *status);

/// What a `*status` from `logflume_igzip_compress` means, for error messages.
const char *logflume_igzip_status_text(int status);

#endif
